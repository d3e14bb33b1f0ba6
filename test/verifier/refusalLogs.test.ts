// What the verifier logs while its nonce store is down: the store's outage once, and each refused
// request only at debug, so an outage cannot flood the log one line per request.
import { createLogger } from '../../src/observability/logger';
import { closedPort } from '../support/closedPort';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { startProxies, type RunningProxies } from '../support/startProxies';
import { PRESHARED_KEY_SERVER } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

interface LogLine {
  level: string;
  msg: string;
}

const WARN_OR_WORSE = ['warn', 'error', 'fatal'];
const DEBUG = 'debug';

async function verifierWithRedisDown(lines: LogLine[]): Promise<RunningProxies> {
  const upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  running.push({ stop: () => upstream.close() });
  const proxies = await startProxies(
    `jwtproxy:
  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}
      nonce_storage: {type: redis, options: {url: "redis://127.0.0.1:${await closedPort()}", connect_timeout: 200ms}}
`,
    { logger: createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line)) }) },
  );
  running.push(proxies);
  return proxies;
}

test('while Redis is down, requests refused with 503 are logged at debug, and the outage once', async () => {
  const lines: LogLine[] = [];
  const proxies = await verifierWithRedisDown(lines);
  for (let i = 0; i < 10; i++) {
    const answer = await httpRequest(proxies.verifiers[0].url, { headers: bearer(await mintToken({ audience: 'http://verifier.test' })) });
    expect(answer.status).toBe(503);
  }
  const refused = lines.filter((line) => line.msg === 'request refused');
  expect(refused.map((line) => line.level)).toEqual(Array(10).fill(DEBUG));
  expect(lines.filter((line) => WARN_OR_WORSE.includes(line.level) && /redis nonce store/.test(line.msg))).toHaveLength(1);
});
