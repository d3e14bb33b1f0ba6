// Runs the configured services until SIGINT or SIGTERM, then stops them gracefully: in this
// process alone, or, with more than one worker (`workers`, by default one per core), as the
// primary of workers that each serve every proxy (node:cluster shares the listening sockets).
// Primary and workers talk through one typed channel each (src/cluster); what runs where is
// decided by the table of roles and the components' placements (see buildServices).
import cluster from 'node:cluster';
import { availableCores } from '../cluster/availableCores';
import { SINGLE_PROCESS, type Topology } from '../cluster/Topology';
import type { Logger } from '../observability/logger';
import { ProxyMetrics } from '../observability/metrics';
import { ObservabilityServer } from '../observability/ObservabilityServer';
import { systemClock } from '../util/clock';
import { ServiceGroup } from '../util/ServiceGroup';
import type { VerifierProxy } from '../verifier/VerifierProxy';
import { buildServices, verifierProxiesOf } from './buildServices';
import type { Config } from './loadConfig';
import { PolicyReloader } from './PolicyReloader';
import { preflight } from './preflight';
import type { ProgramFacts } from './ProgramFacts';
import { runPrimary } from './runPrimary';
import { runWorker } from './runWorker';
import { drain, exitOnSecondSignal, holdHangups, reloadOnHangup, stopRequested } from './signals';
import { reportStartFailure } from './startFailure';
import { startupSummary } from './startupSummary';
import { whenReady } from './whenReady';

/** The checks of -check, before anything starts: true when none failed (each failure is reported). */
async function passesPreflight(config: Config, logger: Logger): Promise<boolean> {
  const problems = await preflight(config);
  for (const problem of problems) reportStartFailure(logger, problem, config);
  return problems.length === 0;
}

function nothingEnabled(config: Config): boolean {
  return !config.signerProxy.enabled && !config.verifierProxies.some((proxy) => proxy.enabled) && !config.keyRegistry?.enabled && !config.externalEvaluation?.enabled;
}

/**
 * Where this process stands, from `workers` (auto: one per core the process may use). The key
 * registry and the external evaluation endpoint alone run in the primary: workers would have
 * nothing to serve.
 */
function topologyOf(config: Config): Topology {
  const proxiesEnabled = config.signerProxy.enabled || config.verifierProxies.some((proxy) => proxy.enabled);
  const workers = config.workers === 'auto' ? availableCores() : config.workers;
  return workers > 1 && proxiesEnabled ? { role: 'primary', workers } : SINGLE_PROCESS;
}

/** Resolves with the process exit code. */
export async function runProxies(config: Config, logger: Logger, facts: ProgramFacts = { version: 'unknown' }): Promise<number> {
  if (!cluster.isPrimary) return runWorker(config, logger, facts);
  if (nothingEnabled(config)) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  if (!(await passesPreflight(config, logger))) return 1;
  const topology = topologyOf(config);
  const workers = topology.role === 'primary' ? topology.workers : 1;
  logger.info(startupSummary(config, workers, facts.version), `jwtproxy ${facts.version} starting`);
  if (topology.role === 'primary') return runPrimary(config, topology.workers, logger, facts);
  return runSingle(config, logger, facts);
}

async function runSingle(config: Config, logger: Logger, facts: ProgramFacts): Promise<number> {
  const hangups = holdHangups();
  let serving = false;
  let group: ServiceGroup;
  let proxies: VerifierProxy[] = [];
  const metrics = new ProxyMetrics({ processMetrics: Boolean(config.observability) });
  const observability = config.observability && new ObservabilityServer(config.observability, { logger, ready: () => serving && group.ready(), metrics });
  try {
    // Health first, so probes get "not ready" rather than nothing while the proxies start.
    await observability?.start();
    const services = buildServices(config, { clock: systemClock, logger, topology: SINGLE_PROCESS, metrics, policyReload: facts.configFile !== undefined });
    proxies = verifierProxiesOf(services);
    group = new ServiceGroup(services);
    await group.start();
  } catch (error) {
    await observability?.stop();
    hangups.release();
    reportStartFailure(logger, error, config);
    return 1;
  }
  serving = true;
  whenReady(group, () => serving && logger.info('ready'));
  const stopReloading = reloadOnHangup(group, logger, { policy: new PolicyReloader(facts.configFile, config, proxies, logger) }, hangups);
  const reason = await stopRequested();
  const stopIgnoringHangups = stopReloading();
  serving = false;
  logger.info({ reason }, 'stopping');
  await drain(config, logger);
  exitOnSecondSignal();
  try {
    await group.stop();
  } finally {
    await observability?.stop();
    stopIgnoringHangups();
  }
  logger.info('stopped');
  return 0;
}
