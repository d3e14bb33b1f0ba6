// jwtproxy_verifier_requests_total counts every answer by result, refusal code and reason
// code: stable codes that dashboards and alerts can rely on, never the texts clients are told.
// A real verifier in-process (built as the CLI builds it), a real upstream, real tokens.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { bearer, httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { signJws } from '../support/jws';
import { mintToken } from '../support/mintToken';
import { startProxies, type RunningProxies } from '../support/startProxies';
import { PRESHARED_KEY_SERVER } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

const AUDIENCE = 'http://verifier.test';
const otherKey = crypto.createPrivateKey(fs.readFileSync(interopFile('otherkey.key')));
const publicKeyPem = fs.readFileSync(interopFile('mykey.pub'));

const upstream = new TestUpstream();
let proxies: RunningProxies;
let url: string;

beforeAll(async () => {
  const upstreamUrl = await upstream.listen();
  proxies = await startProxies(`jwtproxy:
  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      audience: ${AUDIENCE}/
      excludes: [/healthz]
      key_server: ${PRESHARED_KEY_SERVER}
      claims_verifiers: [{type: static, options: {team: blue}}]
`);
  url = proxies.verifiers[0].url;
});

afterAll(async () => {
  await proxies.stop();
  await upstream.close();
});

/** The counter's value for these labels (0 when the series does not exist yet). */
async function counted(labels: { result: string; code: string; reason: string }): Promise<number> {
  const series = `jwtproxy_verifier_requests_total{proxy="verifier_proxies[0]",result="${labels.result}",code="${labels.code}",reason="${labels.reason}"}`;
  const line = (await proxies.metrics.text()).split('\n').find((text) => text.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const blueToken = (claims: Record<string, unknown> = {}) => mintToken({ audience: AUDIENCE, claims: { team: 'blue', ...claims } });

/** Claims the verifier would accept, for tokens made by hand. */
function validClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { aud: AUDIENCE, exp: now + 300, iat: now, iss: 'jwtproxy', jti: crypto.randomUUID(), nbf: now - 60, team: 'blue' };
}

const withToken = async (token: string | Promise<string>) => httpRequest(url, { headers: bearer(await token) });

const cases: [string, () => Promise<unknown>, { result: string; code: string; reason: string }][] = [
  ['a valid token is forwarded, with no code', () => withToken(blueToken()), { result: 'forwarded', code: '', reason: '' }],
  ['no token at all', () => httpRequest(url), { result: 'refused', code: 'missing_token', reason: 'missing' }],
  ['a token that does not parse', () => withToken('not-a-jwt'), { result: 'refused', code: 'invalid_token', reason: 'malformed' }],
  ['an expired token', () => withToken(blueToken({ exp: Math.floor(Date.now() / 1000) - 10 })), { result: 'refused', code: 'invalid_token', reason: 'exp' }],
  ['a token for another audience', () => withToken(blueToken({ aud: 'http://elsewhere.test' })), { result: 'refused', code: 'invalid_token', reason: 'aud' }],
  [
    'a key id the preshared key server does not hold (an error of the key server, as in Go)',
    () => withToken(mintToken({ audience: AUDIENCE, keyId: 'otherkey', claims: { team: 'blue' } })),
    { result: 'refused', code: 'invalid_token', reason: 'key_server_error' },
  ],
  ['a token signed with another key', () => withToken(mintToken({ audience: AUDIENCE, key: otherKey, claims: { team: 'blue' } })), { result: 'refused', code: 'invalid_token', reason: 'signature' }],
  [
    'an HS256 token keyed with the RSA public key (alg confusion)',
    () => withToken(signJws({ alg: 'HS256', kid: 'mykey', typ: 'JWT' }, validClaims(), publicKeyPem)),
    { result: 'refused', code: 'invalid_token', reason: 'algorithm' },
  ],
  ['a token a claims verifier refuses', () => withToken(blueToken({ team: 'red' })), { result: 'refused', code: 'claims_refused', reason: 'claims_verifier' }],
  ['an excluded path is forwarded unchecked', () => httpRequest(`${url}/healthz`), { result: 'forwarded', code: '', reason: 'excluded' }],
  ['a proxy-form request', () => httpRequest(url, { target: 'http://example.com/' }), { result: 'refused', code: 'bad_request', reason: 'proxy_form' }],
];

test.each(cases)('%s', async (_name, send, labels) => {
  const before = await counted(labels);
  await send();
  expect(await counted(labels)).toBe(before + 1);
});

test('a replayed token is counted as replayed, apart from a token without jti', async () => {
  const token = await blueToken();
  const replayed = { result: 'refused', code: 'invalid_token', reason: 'replayed' };
  const before = await counted(replayed);
  expect((await withToken(token)).status).toBe(200);
  const replay = await withToken(token);
  // Clients are told what the Go verifier tells them; the metric says which it was.
  expect(replay.body).toBe("jwtproxy: unable to verify request: Missing or invalid 'jti' claim");
  expect(await counted(replayed)).toBe(before + 1);

  const withoutJti = { result: 'refused', code: 'invalid_token', reason: 'jti' };
  const beforeMissing = await counted(withoutJti);
  await withToken(blueToken({ jti: undefined }));
  expect(await counted(withoutJti)).toBe(beforeMissing + 1);
});

test('no label value is a text meant for clients', async () => {
  await Promise.all(cases.map(([, send]) => send()));
  const labels = (await proxies.metrics.text()).split('\n').filter((line) => line.startsWith('jwtproxy_verifier_requests_total{'));
  for (const line of labels) expect(line).toMatch(/^jwtproxy_verifier_requests_total\{proxy="verifier_proxies\[0\]",result="[a-z_]+",code="[a-z_]*",reason="[a-z_]*"\} \d+$/);
});
