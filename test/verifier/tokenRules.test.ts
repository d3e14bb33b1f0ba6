// A verifier's own token rules beyond the Go jwtproxy's, end to end over HTTP with a real JWKS
// endpoint and upstream: excludes on the normalised path, reusable tokens and the
// verified-token cache (never past exp, dropped with its key), RFC 6750 refusals, the
// login redirect for browsers, and a Go-shaped verifier that keeps the Go checks.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { signToken } from '../../src/jwt/token';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { httpRequest } from '../support/httpRequest';
import { startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

const issuer = 'https://idp.example';
const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
let jwks: { keys: object[] };
let keysServer: http.Server;
let keysUrl: string;
let upstream: TestUpstream;
let upstreamUrl: string;
let now = Date.UTC(2026, 11, 1);
const proxies: VerifierProxy[] = [];

beforeAll(async () => {
  keysServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
  await new Promise<void>((resolve) => keysServer.listen(0, '127.0.0.1', resolve));
  keysUrl = `http://127.0.0.1:${(keysServer.address() as AddressInfo).port}/jwks`;
  upstream = new TestUpstream();
  upstreamUrl = await upstream.listen();
});
afterAll(async () => {
  await upstream.close();
  await new Promise((resolve) => keysServer.close(resolve));
});
beforeEach(() => {
  jwks = { keys: [{ ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }] };
});
afterEach(async () => {
  while (proxies.length) await proxies.pop()!.stop();
});

function token(claims: Record<string, unknown> = {}, kid = 'k1'): Promise<string> {
  const iat = Math.floor(now / 1000);
  return signToken('ES256', pair.privateKey, kid, { iss: issuer, aud: 'my-api', iat, exp: iat + 600, email: 'ada@example.com', ...claims });
}

async function verifier(extra = ''): Promise<VerifierProxy> {
  const proxy = await startVerifier(
    `listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      audiences: [my-api]
      issuers: [${issuer}]
      single_use: false
      key_server: {type: jwks, options: {url: "${keysUrl}", min_refetch_interval: 0s}}
${extra}`,
    () => now,
  );
  proxies.push(proxy);
  return proxy;
}

const bearer = (text: string) => ({ headers: { authorization: `Bearer ${text}` } });

test('excluded paths pass without a token; the match is on the normalised path', async () => {
  const proxy = await verifier('      excludes: [/healthz, /public/*]\n');
  // Raw request targets: a URL parser would remove the dot segments before sending.
  const get = (target: string) => httpRequest(proxy.url, { target });
  expect((await get('/healthz')).status).toBe(200);
  expect((await get('/public/logo.png')).status).toBe(200);
  expect((await get('/publ%69c/logo.png')).status).toBe(200);
  for (const outside of ['/public/../admin', '/public/%2e%2e/admin', '/public/.%2E/admin', '/healthz/', '/healthzx', '/admin']) {
    expect((await get(outside)).status).toBe(403);
  }
});

test('an upgrade on an excluded path is spliced without a token; elsewhere it still needs one', async () => {
  upstream.httpServer.once('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n'));
  const proxy = await verifier('      excludes: [/public/*]\n');
  const port = Number(new URL(proxy.url).port);
  const upgrade = (path: string) =>
    new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: v\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`));
      let received = '';
      socket.on('data', (data) => (received += data.toString()));
      socket.on('close', () => resolve(received));
      socket.on('end', () => socket.destroy());
    });
  expect(await upgrade('/public/ws')).toMatch(/^HTTP\/1.1 101/);
  expect(await upgrade('/private/ws')).toMatch(/^HTTP\/1.1 403/);
});

test('a reusable token is accepted again and again, and never after its exp', async () => {
  const proxy = await verifier();
  const text = await token();
  for (let i = 0; i < 5; i++) expect((await httpRequest(proxy.url, bearer(text))).status).toBe(200);
  now += 601_000 + 60_000;
  const expired = await httpRequest(proxy.url, bearer(text));
  expect(expired).toMatchObject({ status: 403, body: "jwtproxy: unable to verify request: Missing or invalid 'exp' claim" });
  now -= 661_000;
});

test('a cached token whose key left the key set is verified again, and refused', async () => {
  const proxy = await verifier();
  const text = await token();
  expect((await httpRequest(proxy.url, bearer(text))).status).toBe(200);
  const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  jwks = { keys: [{ ...other.publicKey.export({ format: 'jwk' }), kid: 'k2', alg: 'ES256' }] };
  await proxy.reload();
  expect(await httpRequest(proxy.url, bearer(text))).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not find any matching public key' });
});

test('a single-use verifier still wants a jti, without a provider', async () => {
  const proxy = await startVerifier(
    `listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      audiences: [my-api]
      key_server: {type: jwks, options: {url: "${keysUrl}"}}
`,
    () => now,
  );
  proxies.push(proxy);
  expect((await httpRequest(proxy.url, bearer(await token()))).body).toBe("jwtproxy: unable to verify request: Missing or invalid 'jti' claim");
  const once = await token({ jti: 'only-once' });
  expect((await httpRequest(proxy.url, bearer(once))).status).toBe(200);
  expect((await httpRequest(proxy.url, bearer(once))).status).toBe(403);
});

test('RFC 6750 refusals: 401 with a challenge, invalid_token, or 403 insufficient_scope, and a JSON body', async () => {
  const proxy = await verifier(`      refusal_format: rfc6750
      claims_verifiers: [{type: cel, options: {expression: 'claims.email.endsWith("@example.com")', message: staff only}}]
`);
  const missing = await httpRequest(proxy.url);
  expect(missing.status).toBe(401);
  expect(missing.headers['www-authenticate']).toBe('Bearer realm="jwtproxy"');
  const forged = await signToken('ES256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'k1', { iss: issuer, aud: 'my-api', exp: Math.floor(now / 1000) + 60 });
  const invalid = await httpRequest(proxy.url, bearer(forged));
  expect(invalid.status).toBe(401);
  expect(invalid.headers['www-authenticate']).toBe('Bearer realm="jwtproxy", error="invalid_token", error_description="Invalid JWT signature"');
  expect(JSON.parse(invalid.body)).toEqual({ error: 'invalid_token', error_description: 'Invalid JWT signature' });
  const outsider = await httpRequest(proxy.url, bearer(await token({ email: 'eve@evil.example' })));
  expect(outsider.status).toBe(403);
  expect(outsider.headers['www-authenticate']).toContain('error="insufficient_scope"');
});

test('a browser without a valid token is sent to log in with the public URL it wanted', async () => {
  const proxy = await verifier('      auth_redirect_url: https://login.example/sso\n      public_base_path: /app\n      trusted_proxies: [127.0.0.1, "::1"]\n');
  const browser = await httpRequest(`${proxy.url}/page?x=1`, { headers: { accept: 'text/html,*/*', host: 'public.example', 'x-forwarded-proto': 'https' } });
  expect(browser.status).toBe(302);
  const location = new URL(browser.headers.location!);
  expect(location.origin + location.pathname).toBe('https://login.example/sso');
  expect(location.searchParams.get('redirect_after_login')).toBe('https://public.example/app/page?x=1');
  // An API client is told why instead.
  expect((await httpRequest(`${proxy.url}/page`)).status).toBe(403);
});

test('algorithms narrows what the key allows', async () => {
  const proxy = await verifier('      algorithms: [RS256]\n');
  expect((await httpRequest(proxy.url, bearer(await token()))).body).toBe('jwtproxy: unable to verify request: Invalid JWT signature');
});

test('required claims must be present', async () => {
  const proxy = await verifier('      required_claims: [email, groups]\n');
  expect((await httpRequest(proxy.url, bearer(await token()))).body).toBe("jwtproxy: unable to verify request: Missing required claim 'groups'");
  expect((await httpRequest(proxy.url, bearer(await token({ groups: ['a'] })))).status).toBe(200);
});
