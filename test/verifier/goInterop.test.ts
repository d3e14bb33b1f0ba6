// Every captured Go verifier response, replayed against our verifier at the capture
// clock. Where the Go program has a documented bug, the fixed behaviour is asserted.
import * as fs from 'node:fs';
import { parseConfig } from '../../src/app/loadConfig';
import { silentLogger } from '../../src/observability/logger';
import { createKeyServer } from '../../src/keys/keyServerTypes';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { bearer, httpRequest } from '../support/httpRequest';
import { CAPTURE_CLOCK_MS, goTokens, interopFile, verifierCases, type VerifierCase } from '../support/interop';
import { TestUpstream } from '../support/testUpstream';

/** Cases whose outcome differs from Go's on purpose, with the reason. */
const FIXED_GO_BUGS: Record<string, { status: number; body: string }> = {
  // Go recorded the forged token's jti before checking its signature (nonce burn).
  nonce_burn_then_genuine: { status: 200, body: 'ok' },
  // We check the signature before the jti, so a forged token is told it is forged.
  used_jti_bad_sig_go_signer: { status: 403, body: 'jwtproxy: unable to verify request: Invalid JWT signature' },
};

/** Rows that exercise the signer, replayed in the signer's tests. */
const SIGNER_CASES = new Set(['signer_origin_form', 'client_auth_header_via_signer', 'client_basic_auth_via_signer']);

let now = CAPTURE_CLOCK_MS;
let upstream: TestUpstream;
let proxy: VerifierProxy;

beforeAll(async () => {
  upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  const config = parseConfig(`
jwtproxy:
  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}/
      audience: http://127.0.0.1:18080/
      max_skew: 1m
      max_ttl: 5m
      key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${interopFile('mykey.pub')}}}
      nonce_storage: {type: local}
`);
  const proxyConfig = config.verifierProxies[0];
  const clock = () => now;
  proxy = new VerifierProxy(proxyConfig, {
    keyServer: createKeyServer(proxyConfig.verifier.keyServer, { clock, logger: silentLogger }),
    nonceStore: new LocalNonceStore({ clock, purgeIntervalMs: 60_000, maxEntries: 10_000, logger: silentLogger }),
    clock,
    logger: silentLogger,
  });
  await proxy.start();
});

afterAll(async () => {
  await proxy.stop();
  await upstream.close();
});

function expected(testCase: VerifierCase): { status: number; body: string } {
  return FIXED_GO_BUGS[testCase.name] ?? { status: testCase.status, body: testCase.body };
}

function tokenOf(testCase: VerifierCase): string | undefined {
  if (testCase.tokenFile) return fs.readFileSync(interopFile(testCase.tokenFile), 'utf8').trim();
  // The Go signer's raw tokens name port 18081, not this verifier's audience.
  if (testCase.name === 'wrong_audience_go_signer') return goTokens('go_signer_tokens_raw.decoded.jsonl')[0].token;
  return undefined;
}

describe('captured Go verifier responses, in capture order', () => {
  const cases = verifierCases().filter((testCase) => !SIGNER_CASES.has(testCase.name));

  test.each(cases.map((testCase) => [testCase.name, testCase] as const))('%s', async (name, testCase) => {
    now = CAPTURE_CLOCK_MS;
    const token = tokenOf(testCase);
    let headers: Record<string, string> = token ? bearer(token) : {};
    if (name === 'replayed_jti') {
      // The row is the second use of the token; the first one passes.
      expect((await httpRequest(proxy.url, { headers })).status).toBe(200);
    }
    if (name === 'expired_go_signer') {
      // Captured a moment after the token's exp, later than the other rows.
      const { exp } = JSON.parse(Buffer.from(token!.split('.')[1], 'base64url').toString()) as { exp: number };
      now = (exp + 1) * 1000;
    }
    if (name === 'basic_auth_any_user') {
      // Go took the password of any Basic user; we take it only from user "oauth2".
      headers = { authorization: `Basic ${Buffer.from(`anyuser:${token}`).toString('base64')}` };
      const refused = await httpRequest(proxy.url, { headers });
      expect(refused).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
      headers = { authorization: `Basic ${Buffer.from(`oauth2:${token}`).toString('base64')}` };
    }
    const target = name === 'verifier_absolute_uri' ? 'http://127.0.0.1:18080/' : undefined;
    const answer = await httpRequest(proxy.url, { headers, target });
    const want = expected(testCase);
    expect({ status: answer.status, body: answer.body.replace(/\n$/, '') }).toEqual({ status: want.status, body: want.body });
    if (answer.status === 403) expect(answer.headers['content-type']).toMatch(/^text\/plain/);
  });
});

describe('tokens minted by the Go signer', () => {
  test('verify when addressed to this verifier', async () => {
    now = CAPTURE_CLOCK_MS;
    for (const { token } of goTokens('go_signer_tokens_via_verifier.decoded.jsonl')) {
      expect(await httpRequest(proxy.url, { headers: bearer(token) })).toMatchObject({ status: 200, body: 'ok' });
    }
  });

  test('fail when any part is tampered with', async () => {
    now = CAPTURE_CLOCK_MS;
    const [header, payload, signature] = goTokens('go_signer_tokens_via_verifier.decoded.jsonl')[0].token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, jti: 'tampered-jti-000000000000000000' })).toString('base64url');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    const hs256Header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'mykey', typ: 'JWT' })).toString('base64url');
    for (const token of [`${header}.${forgedPayload}.${signature}`, `${header}.${payload}.${flipped}`, `${hs256Header}.${payload}.${signature}`]) {
      const answer = await httpRequest(proxy.url, { headers: bearer(token) });
      expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Invalid JWT signature' });
    }
  });
});
