// Runs the configured services until SIGINT or SIGTERM, then stops them gracefully.
// With `workers` > 1 the primary forks workers that each serve every proxy (node:cluster
// shares the listening sockets); the primary holds what must be one per deployment:
// the local nonce stores all workers share, and stale unix sockets are removed there.
import cluster, { type Worker } from 'node:cluster';
import { availableCores } from '../cluster/availableCores';
import { listenTarget } from '../config/listener';
import type { Config } from '../config/types';
import type { PrivateKeySource } from '../keys/PrivateKeySource';
import { relaySigningKey } from '../keys/RelayedPrivateKey';
import { createNonceStore } from '../nonce/createNonceStore';
import type { NonceStore } from '../nonce/NonceStore';
import { SharedNonceStoreHost } from '../nonce/SharedNonceStoreHost';
import type { Logger } from '../observability/logger';
import { answerMetricsRequests, ObservabilityServer } from '../observability/ObservabilityServer';
import { removeStaleSocket } from '../proxy/listener';
import { systemClock } from '../util/clock';
import { buildKeyRegistry, buildPrivateKeySource, buildServices, verifierStoreId } from './buildServices';
import { ServiceGroup, type Service } from '../util/ServiceGroup';

/** IPC between the primary and its workers, beside the nonce messages. */
type ControlMessage = { jwtproxy: 'ready' } | { jwtproxy: 'stop' } | { jwtproxy: 'reload' };

const RESTART_DELAY_MS = 1000;
/** Beyond the longest shutdown_timeout, how long the primary waits for a worker before killing it. */
const WORKER_STOP_MARGIN_MS = 5000;

/** Logged for the record, and one plain line on stderr for the operator. */
function reportStartFailure(logger: Logger, error: unknown): void {
  logger.error({ err: error }, 'failed to start');
  process.stderr.write(`jwtproxy: failed to start: ${(error as Error).message}\n`);
}

function longestShutdownTimeout(config: Config): number {
  const listeners = [config.signerProxy, ...config.verifierProxies, ...(config.keyRegistry ? [config.keyRegistry] : [])];
  return Math.max(...listeners.map((listener) => listener.shutdownTimeoutMs));
}

/**
 * On SIGHUP (or, in a worker, the primary's word) re-reads keys and certificates without
 * dropping connections; what fails to load is logged and the old one stays in use.
 * `alsoOnReload` runs first (the primary tells its workers). Returns the function that stops listening.
 */
function reloadOnHangup(group: ServiceGroup, logger: Logger, alsoOnReload?: () => void): () => void {
  const reload = () => {
    alsoOnReload?.();
    group.reload().then(
      () => logger.info('reloaded keys and certificates'),
      (error: Error) => logger.error({ err: error }, 'reload failed; the previous keys and certificates stay in use'),
    );
  };
  const onMessage = (message: ControlMessage) => {
    if (message?.jwtproxy === 'reload') reload();
  };
  process.on('SIGHUP', reload);
  process.on('message', onMessage);
  return () => {
    process.off('SIGHUP', reload);
    process.off('message', onMessage);
  };
}

/** Calls `then` once the group reports ready (a verifier waits for its first key set). */
function whenReady(group: ServiceGroup, then: () => void): void {
  if (group.ready()) return then();
  const timer = setInterval(() => {
    if (!group.ready()) return;
    clearInterval(timer);
    then();
  }, 200);
  timer.unref();
}

function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.on('message', (message: ControlMessage) => {
      if (message?.jwtproxy === 'stop') resolve('stop from primary');
    });
  });
}

function nothingEnabled(config: Config): boolean {
  return !config.signerProxy.enabled && !config.verifierProxies.some((proxy) => proxy.enabled) && !config.keyRegistry?.enabled;
}

/** Resolves with the process exit code. */
export async function runProxies(config: Config, logger: Logger): Promise<number> {
  if (!cluster.isPrimary) return runWorker(config, logger);
  const workers = config.workers === 'auto' ? availableCores() : config.workers;
  if (workers > 1) return runPrimary(config, workers, logger);
  if (nothingEnabled(config)) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  let serving = false;
  let group: ServiceGroup;
  const observability = config.observability && new ObservabilityServer(config.observability, { logger, ready: () => serving && group.ready() });
  try {
    // Health first, so probes get "not ready" rather than nothing while the proxies start.
    await observability?.start();
    group = new ServiceGroup(buildServices(config, { clock: systemClock, logger, clusterWorker: false }));
    await group.start();
  } catch (error) {
    await observability?.stop();
    reportStartFailure(logger, error);
    return 1;
  }
  serving = true;
  const stopReloading = reloadOnHangup(group, logger);
  const reason = await stopRequested();
  stopReloading();
  serving = false;
  logger.info({ reason }, 'stopping');
  // A second signal while draining means "now".
  process.once('SIGINT', () => process.exit(1));
  process.once('SIGTERM', () => process.exit(1));
  try {
    await group.stop();
  } finally {
    await observability?.stop();
  }
  logger.info('stopped');
  return 0;
}

async function runWorker(config: Config, logger: Logger): Promise<number> {
  const workerLogger = logger.child({ worker: cluster.worker?.id });
  if (config.observability) answerMetricsRequests();
  let group: ServiceGroup;
  try {
    group = new ServiceGroup(buildServices(config, { clock: systemClock, logger: workerLogger, clusterWorker: true }));
    await group.start();
  } catch (error) {
    reportStartFailure(workerLogger, error);
    // The IPC channel would keep this process alive; the primary sees the exit and stops.
    process.exit(1);
  }
  whenReady(group, () => process.send?.({ jwtproxy: 'ready' } satisfies ControlMessage, undefined, undefined, () => undefined));
  const stopReloading = reloadOnHangup(group, workerLogger);
  await stopRequested();
  stopReloading();
  await group.stop();
  process.disconnect?.();
  return 0;
}

/**
 * The primary's own services: the key registry, one local nonce store per verifier that
 * uses local storage, and an autogenerated signing key (relayed to the workers).
 */
function primaryServices(config: Config, logger: Logger): { services: Service[]; stores: Map<string, NonceStore>; keys?: PrivateKeySource } {
  const deps = { clock: systemClock, logger, clusterWorker: false };
  const stores = new Map<string, NonceStore>();
  config.verifierProxies.forEach((proxy, index) => {
    const storage = proxy.verifier.nonceStorage;
    if (!proxy.enabled || storage?.type !== 'local') return;
    const id = verifierStoreId(index);
    stores.set(id, createNonceStore(storage, { clock: systemClock, logger, id }));
  });
  const services: Service[] = [...stores.values()];
  if (config.keyRegistry?.enabled) services.unshift(buildKeyRegistry(config.keyRegistry, deps));
  const keys = config.signerProxy.signer?.privateKey.type === 'autogenerated' ? buildPrivateKeySource(config, deps) : undefined;
  if (keys) services.push(keys);
  return { services, stores, keys };
}

async function removeStaleSockets(config: Config): Promise<void> {
  const listeners = [...(config.signerProxy.enabled ? [config.signerProxy] : []), ...config.verifierProxies.filter((proxy) => proxy.enabled)];
  for (const { listenAddr } of listeners) {
    const target = listenTarget(listenAddr);
    if ('path' in target) await removeStaleSocket(target.path);
  }
}

async function runPrimary(config: Config, workers: number, logger: Logger): Promise<number> {
  if (nothingEnabled(config)) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  let stopping = false;
  const ready = new Set<Worker>();
  let primary: ReturnType<typeof primaryServices>;
  let group: ServiceGroup;
  try {
    primary = primaryServices(config, logger);
    const observability =
      config.observability &&
      new ObservabilityServer(config.observability, { logger, ready: () => !stopping && ready.size >= workers, workers: () => [...ready] });
    group = new ServiceGroup(observability ? [observability, ...primary.services] : primary.services);
    await removeStaleSockets(config);
    await group.start();
  } catch (error) {
    reportStartFailure(logger, error);
    return 1;
  }
  const { stores, keys } = primary;
  const detachHost = new SharedNonceStoreHost(stores, logger).attachCluster(cluster);
  const stopRelay = keys ? relaySigningKey(keys, cluster) : () => undefined;

  let startupFailed = false;
  const forkWorker = () => {
    const worker = cluster.fork();
    worker.on('message', (message: ControlMessage) => {
      if (message?.jwtproxy === 'ready') ready.add(worker);
    });
  };
  cluster.on('exit', (exited, code, signal) => {
    const wasReady = ready.delete(exited);
    if (stopping) return;
    if (!wasReady) {
      // A worker that dies before serving has a startup problem: restarting would loop.
      startupFailed = true;
      logger.error({ worker: exited.id, code, signal }, 'a worker failed to start; stopping');
      process.kill(process.pid, 'SIGTERM');
      return;
    }
    logger.error({ worker: exited.id, code, signal }, 'worker exited unexpectedly; starting another');
    setTimeout(() => !stopping && forkWorker(), RESTART_DELAY_MS);
  });
  for (let i = 0; i < workers; i++) forkWorker();
  logger.info({ workers, configured: config.workers }, 'started workers');

  const stopReloading = reloadOnHangup(group, logger, () => {
    const reloadMessage: ControlMessage = { jwtproxy: 'reload' };
    for (const worker of ready) worker.send(reloadMessage, undefined, () => undefined);
  });
  const reason = await stopRequested();
  stopReloading();
  stopping = true;
  logger.info({ reason }, 'stopping');
  process.once('SIGINT', () => process.exit(1));
  process.once('SIGTERM', () => process.exit(1));
  const running = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
  await Promise.all(
    running.map(
      (w) =>
        new Promise<void>((resolve) => {
          const deadline = setTimeout(() => {
            logger.error({ worker: w.id }, 'worker did not stop in time; killing it');
            w.process.kill('SIGKILL');
          }, longestShutdownTimeout(config) + WORKER_STOP_MARGIN_MS);
          w.once('exit', () => {
            clearTimeout(deadline);
            resolve();
          });
          const stopMessage: ControlMessage = { jwtproxy: 'stop' };
          if (!w.isConnected()) w.kill('SIGTERM');
          else w.send(stopMessage, undefined, (error) => error && w.kill('SIGTERM'));
        }),
    ),
  );
  detachHost();
  stopRelay();
  await group.stop();
  logger.info('stopped');
  return startupFailed ? 1 : 0;
}
