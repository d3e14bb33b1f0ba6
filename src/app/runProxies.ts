// Runs the configured services until SIGINT or SIGTERM, then stops them gracefully.
// With `workers` > 1 the primary forks workers that each serve every proxy (node:cluster
// shares the listening sockets); the primary holds what must be one per deployment:
// the local nonce stores all workers share, and stale unix sockets are removed there.
import cluster, { type Worker } from 'node:cluster';
import { listenTarget } from '../config/listener';
import type { Config } from '../config/types';
import { LocalNonceStore } from '../nonce/LocalNonceStore';
import type { NonceStore } from '../nonce/NonceStore';
import { SharedNonceStoreHost } from '../nonce/SharedNonceStoreHost';
import type { Logger } from '../observability/logger';
import { removeStaleSocket } from '../proxy/listener';
import { systemClock } from '../util/clock';
import { buildServices, verifierStoreId } from './buildServices';
import { ServiceGroup, type Service } from './ServiceGroup';

/** IPC between the primary and its workers, beside the nonce messages. */
type ControlMessage = { jwtproxy: 'ready' } | { jwtproxy: 'stop' };

const RESTART_DELAY_MS = 1000;

function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.on('message', (message: ControlMessage) => {
      if (message?.jwtproxy === 'stop') resolve('stop from primary');
    });
  });
}

/** Resolves with the process exit code. */
export async function runProxies(config: Config, logger: Logger): Promise<number> {
  if (config.workers > 1) return cluster.isPrimary ? runPrimary(config, logger) : runWorker(config, logger);
  const services = buildServices(config, { clock: systemClock, logger, clusterWorker: false });
  if (services.length === 0) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  const group = new ServiceGroup(services);
  try {
    await group.start();
  } catch (error) {
    logger.error({ err: error }, 'failed to start');
    return 1;
  }
  const reason = await stopRequested();
  logger.info({ reason }, 'stopping');
  // A second signal while draining means "now".
  process.once('SIGINT', () => process.exit(1));
  process.once('SIGTERM', () => process.exit(1));
  await group.stop();
  logger.info('stopped');
  return 0;
}

async function runWorker(config: Config, logger: Logger): Promise<number> {
  const workerLogger = logger.child({ worker: cluster.worker?.id });
  const group = new ServiceGroup(buildServices(config, { clock: systemClock, logger: workerLogger, clusterWorker: true }));
  try {
    await group.start();
  } catch (error) {
    workerLogger.error({ err: error }, 'worker failed to start');
    return 1;
  }
  process.send?.({ jwtproxy: 'ready' } satisfies ControlMessage);
  await stopRequested();
  await group.stop();
  process.disconnect?.();
  return 0;
}

/** The primary's own services: one local nonce store per verifier that uses local storage. */
function primaryServices(config: Config, logger: Logger): { services: Service[]; stores: Map<string, NonceStore> } {
  const stores = new Map<string, NonceStore>();
  config.verifierProxies.forEach((proxy, index) => {
    const storage = proxy.verifier.nonceStorage;
    if (!proxy.enabled || storage.type !== 'local') return;
    const id = verifierStoreId(index);
    stores.set(id, new LocalNonceStore({ ...storage, clock: systemClock, logger: logger.child({ nonceStore: id }) }));
  });
  return { services: [...stores.values()], stores };
}

async function removeStaleSockets(config: Config): Promise<void> {
  const listeners = [...(config.signerProxy.enabled ? [config.signerProxy] : []), ...config.verifierProxies.filter((proxy) => proxy.enabled)];
  for (const { listenAddr } of listeners) {
    const target = listenTarget(listenAddr);
    if ('path' in target) await removeStaleSocket(target.path);
  }
}

async function runPrimary(config: Config, logger: Logger): Promise<number> {
  if (!config.signerProxy.enabled && !config.verifierProxies.some((proxy) => proxy.enabled)) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  const { services, stores } = primaryServices(config, logger);
  const group = new ServiceGroup(services);
  try {
    await removeStaleSockets(config);
    await group.start();
  } catch (error) {
    logger.error({ err: error }, 'failed to start');
    return 1;
  }
  const detachHost = new SharedNonceStoreHost(stores, logger).attachCluster(cluster);

  let stopping = false;
  let startupFailed = false;
  const ready = new Set<Worker>();
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
  for (let i = 0; i < config.workers; i++) forkWorker();
  logger.info({ workers: config.workers }, 'started workers');

  const reason = await stopRequested();
  stopping = true;
  logger.info({ reason }, 'stopping');
  process.once('SIGINT', () => process.exit(1));
  process.once('SIGTERM', () => process.exit(1));
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          const stopMessage: ControlMessage = { jwtproxy: 'stop' };
          if (!w.isConnected()) w.kill('SIGTERM');
          else w.send(stopMessage, undefined, (error) => error && w.kill('SIGTERM'));
        }),
    ),
  );
  detachHost();
  await group.stop();
  logger.info('stopped');
  return startupFailed ? 1 : 0;
}
