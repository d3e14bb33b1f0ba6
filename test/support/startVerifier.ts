// An in-process verifier proxy built from YAML exactly as the CLI builds it.
import { buildVerifierProxies } from '../../src/app/buildServices';
import { SINGLE_PROCESS } from '../../src/cluster/Topology';
import { parseConfig } from '../../src/app/loadConfig';
import { silentLogger } from '../../src/observability/logger';
import { ProxyMetrics } from '../../src/observability/metrics';
import type { Clock } from '../../src/util/clock';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { interopFile } from './interop';

export const PRESHARED_KEY_SERVER = `{type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${interopFile('mykey.pub')}}}`;

/** `verifierYaml` is the body of one verifier_proxies entry, indented by 4 spaces. */
export function verifierConfigYaml(verifierYaml: string, top = ''): string {
  return `jwtproxy:\n${top}  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - ${verifierYaml.trimStart()}\n`;
}

export async function startVerifier(verifierYaml: string, clock: Clock = Date.now): Promise<VerifierProxy> {
  const config = parseConfig(verifierConfigYaml(verifierYaml));
  const [proxy] = buildVerifierProxies(config, { clock, logger: silentLogger, topology: SINGLE_PROCESS, metrics: new ProxyMetrics() });
  await proxy.start();
  return proxy;
}
