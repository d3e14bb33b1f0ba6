// What the verifier logs about refusals: while its nonce store is down, the store's outage once and
// each refused request only at debug, so an outage cannot flood the log one line per request; and
// for each refused request the precise verdict, finer than the reason the client and metrics get.
import { encodeBase64url } from '../../src/jwt/base64url';
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

/** A verifier logging every line at `level` and above into `lines`, its verifier section ending with `extra`. */
async function verifierLoggingTo<Line>(lines: Line[], extra = '', level: 'debug' | 'info' = 'info'): Promise<RunningProxies> {
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
${extra}`,
    { logger: createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line)) }) },
  );
  running.push(proxies);
  return proxies;
}

async function verifierWithRedisDown(lines: LogLine[]): Promise<RunningProxies> {
  return verifierLoggingTo(lines, `      nonce_storage: {type: redis, options: {url: "redis://127.0.0.1:${await closedPort()}", connect_timeout: 200ms}}\n`, 'debug');
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

interface RefusalLine extends LogLine {
  code: string;
  reasonCode: string;
  verdict: string;
}

/** A token whose header is `header`, with valid claims and a signature that is never reached. */
function tokenWithHeader(header: object): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: 'http://verifier.test', iss: 'jwtproxy', iat: now, nbf: now, exp: now + 300, jti: 'j' };
  return `${[header, claims].map((part) => encodeBase64url(JSON.stringify(part))).join('.')}.c2lnbmF0dXJl`;
}

test.each([
  [{ kid: 'mykey', typ: 'JWT' }, 'malformed_alg'],
  [{ alg: 'RS256', kid: 'mykey', crit: ['exp'] }, 'unsupported_crit'],
  [{ alg: 'RS256', kid: 'mykey', typ: 7 }, 'malformed_typ'],
])('a token the JWS parser refuses (%j) is told "Could not parse JWT" and logged with the precise verdict %s', async (header, verdict) => {
  const lines: RefusalLine[] = [];
  const proxies = await verifierLoggingTo(lines);
  const answer = await httpRequest(proxies.verifiers[0].url, { headers: bearer(tokenWithHeader(header)) });
  expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
  expect(lines.find((line) => line.msg === 'request refused')).toMatchObject({ level: 'info', code: 'invalid_token', reasonCode: 'malformed', verdict });
});

test('a token signed with an algorithm the verifier does not allow is logged as alg_not_allowed, told as a bad signature', async () => {
  const lines: RefusalLine[] = [];
  const proxies = await verifierLoggingTo(lines, '      algorithms: [ES256]\n');
  const answer = await httpRequest(proxies.verifiers[0].url, { headers: bearer(await mintToken({ audience: 'http://verifier.test' })) });
  expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Invalid JWT signature' });
  expect(lines.find((line) => line.msg === 'request refused')).toMatchObject({ code: 'invalid_token', reasonCode: 'algorithm', verdict: 'alg_not_allowed' });
});
