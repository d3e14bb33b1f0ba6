// A verifier built from the YAML of its `verifier:` mapping exactly as the CLI builds it
// (parseConfig, buildVerifierProxies), listening on 127.0.0.1:0 (its URL read back), with
// the test's clock; and the afterEach that stops whatever a test started.
import { buildVerifierProxies } from '../../src/app/buildServices';
import { SINGLE_PROCESS } from '../../src/cluster/Topology';
import { parseConfig } from '../../src/app/loadConfig';
import { silentLogger, type Logger } from '../../src/observability/logger';
import { ProxyMetrics } from '../../src/observability/metrics';
import type { Clock } from '../../src/util/clock';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';

/** Removes the common indentation of a template literal's lines, so YAML can be written indented in a test. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length));
  return lines.map((line) => line.slice(indent)).join('\n');
}

/** The whole config file of one verifier proxy; `verifier` is the YAML of its verifier mapping. */
export function verifierFileYaml(verifier: string, listenAddr = '127.0.0.1:0'): string {
  const body = dedent(verifier)
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n');
  return `jwtproxy:\n  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - listen_addr: ${listenAddr}\n    shutdown_timeout: 1s\n    verifier:\n${body}\n`;
}

export async function startVerifierFromYaml(verifier: string, clock: Clock, logger: Logger = silentLogger): Promise<VerifierProxy> {
  const config = parseConfig(verifierFileYaml(verifier));
  const [proxy] = buildVerifierProxies(config, { clock, logger, topology: SINGLE_PROCESS, metrics: new ProxyMetrics() });
  await proxy.start();
  return proxy;
}

type Stoppable = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

/** Registers an afterEach that stops (or closes) every service passed to the returned function, last first. */
export function stopAfterEach(): <T extends Stoppable>(service: T) => T {
  const started: Stoppable[] = [];
  afterEach(async () => {
    while (started.length) {
      const service = started.pop()!;
      await ('stop' in service ? service.stop() : service.close());
    }
  });
  return (service) => {
    started.push(service);
    return service;
  };
}
