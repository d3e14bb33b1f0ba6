// A cluster worker: serves every proxy on the listening sockets node:cluster shares, reaches the
// primary's nonce stores and signing key through its channel, and stops or reloads when the
// primary says so (or on its own signals).
import cluster from 'node:cluster';
import { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { Topology } from '../cluster/Topology';
import type { Logger } from '../observability/logger';
import { ProxyMetrics } from '../observability/metrics';
import { answerMetricsRequests } from '../observability/ObservabilityServer';
import { systemClock } from '../util/clock';
import { ServiceGroup } from '../util/ServiceGroup';
import type { VerifierProxy } from '../verifier/VerifierProxy';
import { buildServices, verifierProxiesOf } from './buildServices';
import type { Config } from './loadConfig';
import { PolicyReloader } from './PolicyReloader';
import type { ProgramFacts } from './ProgramFacts';
import { holdHangups, reloadOnHangup, stopRequested } from './signals';
import { isOperatorMistake, reportStartFailure, startProblem } from './startFailure';
import { whenReady } from './whenReady';

export async function runWorker(config: Config, logger: Logger, facts: ProgramFacts): Promise<number> {
  const id = cluster.worker!.id;
  const workerLogger = logger.child({ worker: id });
  const primary = PrimaryChannel.ofParentProcess(workerLogger);
  const topology: Topology = { role: 'worker', id, primary };
  const hangups = holdHangups();
  // Heard from now on: a stop asked for while the worker starts takes effect once it has started.
  const stop = stopRequested(primary);
  const metrics = new ProxyMetrics({ processMetrics: Boolean(config.observability) });
  if (config.observability) answerMetricsRequests(primary, metrics);
  let group: ServiceGroup;
  let proxies: VerifierProxy[] = [];
  try {
    const services = buildServices(config, { clock: systemClock, logger: workerLogger, topology, metrics, policyReload: facts.configFile !== undefined });
    proxies = verifierProxiesOf(services);
    group = new ServiceGroup(services);
    await group.start();
  } catch (error) {
    // Every worker fails alike (a port in use): the primary tells the operator once.
    const problem = startProblem(error, config);
    if (!isOperatorMistake(error)) workerLogger.error({ err: error }, 'failed to start');
    // The IPC channel would keep this process alive; the primary sees the exit and stops.
    const exit = () => process.exit(1);
    primary.send({ jwtproxy: 'start-failed', problem }, (sendError) => (reportStartFailure(workerLogger, sendError, config, problem), exit()), exit);
    return 1;
  }
  whenReady(group, () => primary.send({ jwtproxy: 'ready' }));
  const stopReloading = reloadOnHangup(group, workerLogger, { primary, policy: new PolicyReloader(facts.configFile, config, proxies, workerLogger) }, hangups);
  await stop;
  const stopIgnoringHangups = stopReloading();
  await group.stop();
  stopIgnoringHangups();
  primary.close();
  process.disconnect?.();
  return 0;
}
