// The parts a YAML config enables, built in-process exactly as the CLI builds them (parseConfig and
// the build* functions of src/app/buildServices.ts), started in the CLI's order, stopped in reverse.
import { buildKeyRegistry, buildPrivateKeySource, buildSignerProxy, buildVerifierProxies } from '../../src/app/buildServices';
import { SINGLE_PROCESS } from '../../src/cluster/Topology';
import { ServiceGroup, type Service } from '../../src/util/ServiceGroup';
import { parseConfig, type Config } from '../../src/app/loadConfig';
import { silentLogger, type Logger } from '../../src/observability/logger';
import { ProxyMetrics } from '../../src/observability/metrics';
import type { SignerProxy } from '../../src/signer/SignerProxy';
import type { Clock } from '../../src/util/clock';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';

export interface RunningProxies {
  config: Config;
  signer?: SignerProxy;
  verifiers: VerifierProxy[];
  /** What the proxies counted. */
  metrics: ProxyMetrics;
  stop(): Promise<void>;
}

export async function startProxies(yaml: string, deps: { clock?: Clock; logger?: Logger } = {}): Promise<RunningProxies> {
  const config = parseConfig(yaml);
  const metrics = new ProxyMetrics();
  const runtime = { clock: deps.clock ?? Date.now, logger: deps.logger ?? silentLogger, topology: SINGLE_PROCESS, metrics };
  const services: Service[] = [];
  if (config.keyRegistry?.enabled) services.push(buildKeyRegistry(config.keyRegistry, runtime));
  const verifiers = buildVerifierProxies(config, runtime);
  services.push(...verifiers);
  const keys = buildPrivateKeySource(config, runtime);
  const signer = keys ? buildSignerProxy(config, keys, runtime) : undefined;
  if (signer) services.push(signer);
  const group = new ServiceGroup(services);
  await group.start();
  return { config, signer, verifiers, metrics, stop: () => group.stop() };
}
