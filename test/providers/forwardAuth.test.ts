// The verifier in forward-auth mode (forward_auth), asked the way each gateway asks:
// Traefik ForwardAuth (the original request in X-Forwarded-Method/-Proto/-Host/-Uri, the
// audience in the address path /auth/<AUD>), Envoy ext_authz (the original path after
// the path prefix) and nginx auth_request (X-Original-URI, X-Original-Method). Tokens are
// Cloudflare Access tokens checked against a stand-in Access team; the clock is injected.
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { accessClaims, accessKey, accessToken, audTag, CERTS_PATH, certsDocument, TEAM_DOMAIN } from '../support/cloudflareAccess';
import { httpRequest } from '../support/httpRequest';
import { dedent, startVerifierFromYaml, stopAfterEach } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';

const REFUSED = 'jwtproxy: unable to verify request: ';
const LOGIN_URL = 'https://login.example.com/sign-in';
/** The two Access applications this verifier answers for, and one it does not. */
const DASHBOARD_AUD = audTag();
const REPORTS_AUD = audTag();
const UNLISTED_AUD = audTag();
const signingKey = accessKey();

let now = Date.now();
const clock = () => now;
const token = (aud: string, claims: Record<string, unknown> = {}) => accessToken(signingKey, accessClaims(now, aud, claims));

const track = stopAfterEach();
const access = new StandInServer();
beforeAll(() => access.listen());
afterAll(() => access.close());
beforeEach(() => {
  now = Date.now();
  access.serve(CERTS_PATH, { body: certsDocument([signingKey]) });
});

/**
 * A forward-auth verifier for Access tokens with identity headers; `forwardAuth` is its
 * forward_auth value, `extra` more YAML for its verifier mapping. X-Auth-Request shows
 * which original request the verifier judged (method, host and path).
 */
async function verifier(forwardAuth: string, extra = ''): Promise<VerifierProxy> {
  const yaml = dedent(`
    forward_auth: ${forwardAuth}
    provider:
      type: cloudflare_access
      options:
        team_domain: ${TEAM_DOMAIN}
        audience_tag: [${DASHBOARD_AUD}, ${REPORTS_AUD}]
        certs_url: ${access.url}${CERTS_PATH}
    claims_to_headers:
      X-Auth-Email: claims.email
      X-Auth-Groups: 'claims.custom["http://schemas/groups"]'
      X-Auth-Request: 'request.method + " " + request.host + request.path'`);
  return track(await startVerifierFromYaml(`${yaml}\n${dedent(extra)}`, clock));
}

const AUDIENCE_FROM_PATH = '{audience_from_path: /auth/}';
const BROWSER = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

/** What Traefik sends to `address`: GET, the original request in X-Forwarded-*, the client's headers. */
function traefik(address: string, headers: Record<string, string> = {}) {
  return httpRequest(address, {
    headers: {
      'x-forwarded-method': 'POST',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'dashboard.example.com',
      'x-forwarded-uri': '/reports/2026?format=pdf',
      'x-forwarded-for': '203.0.113.9',
      ...headers,
    },
  });
}

/** What Envoy ext_authz sends: the original method, path_prefix + the original path, the original Host. */
function envoy(proxy: VerifierProxy, pathPrefix: string, headers: Record<string, string> = {}) {
  return httpRequest(`${proxy.url}${pathPrefix}/orders/7?view=full`, { method: 'DELETE', headers: { host: 'shop.example.com', 'x-forwarded-proto': 'https', ...headers } });
}

/** What nginx auth_request sends (the config of examples/nginx-auth-request.conf). */
function nginx(proxy: VerifierProxy, headers: Record<string, string> = {}) {
  return httpRequest(`${proxy.url}/`, { headers: { 'x-original-host': 'intranet.example.com', 'x-original-uri': '/wiki/Main_Page?action=edit', 'x-original-method': 'GET', ...headers } });
}

describe('Traefik ForwardAuth (address http://jwtproxy/auth/<AUD>)', () => {
  test('a valid token gets 200 with the identity headers, judged on the original request in X-Forwarded-*', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) });
    expect(answer).toMatchObject({ status: 200, body: '' });
    expect(answer.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-groups': 'engineering,on-call', 'x-auth-request': 'POST dashboard.example.com/reports/2026' });
  });

  test("the audience in the path is the one the token must carry: a token of the other application gets 403 Missing or invalid 'aud' claim", async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    const answer = await traefik(`${proxy.url}/auth/${REPORTS_AUD}`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) });
    expect(answer).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test('an audience in the path that is not among the configured AUD tags is refused, even with a token for it', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    const answer = await traefik(`${proxy.url}/auth/${UNLISTED_AUD}`, { 'cf-access-jwt-assertion': token(UNLISTED_AUD) });
    expect(answer).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test('an address without an audience after /auth/ gets 404', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    expect((await traefik(`${proxy.url}/auth/`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) })).status).toBe(404);
    expect((await traefik(`${proxy.url}/elsewhere`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) })).status).toBe(404);
  });

  test('no token gets 401 with WWW-Authenticate: Bearer', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    expect(await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`)).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' }, body: `${REFUSED}Could not parse JWT` });
  });

  test('a bad token gets 403 with the reason', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    now += 25 * 3600_000;
    const expired = accessToken(signingKey, accessClaims(now - 25 * 3600_000, DASHBOARD_AUD));
    expect(await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': expired })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
  });

  test('the token in the CF_Authorization cookie Traefik copies from the browser is accepted', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    expect((await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { cookie: `CF_Authorization=${token(DASHBOARD_AUD)}` })).status).toBe(200);
  });

  test('with auth_redirect_url a browser without a token gets 302 to the login URL, redirect_after_login the original URL', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, `auth_redirect_url: ${LOGIN_URL}`);
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, BROWSER);
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.location!);
    expect(`${location.origin}${location.pathname}`).toBe(LOGIN_URL);
    expect(location.searchParams.get('redirect_after_login')).toBe('https://dashboard.example.com/reports/2026?format=pdf');
  });

  test('with auth_redirect_url a client that does not ask for HTML still gets 401', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, `auth_redirect_url: ${LOGIN_URL}`);
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { accept: 'application/json' });
    expect(answer.status).toBe(401);
    expect(answer.headers.location).toBeUndefined();
  });
});

describe('Envoy ext_authz (path_prefix /auth/<AUD>)', () => {
  test('a valid token gets 200 with the identity headers, judged on the original path after the prefix', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    const answer = await envoy(proxy, `/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) });
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-request': 'DELETE shop.example.com/orders/7' });
  });

  test('without a path prefix (forward_auth: true) the request path itself is the original path', async () => {
    const proxy = await verifier('true');
    const answer = await envoy(proxy, '', { 'cf-access-jwt-assertion': token(REPORTS_AUD) });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-auth-request']).toBe('DELETE shop.example.com/orders/7');
  });

  test('no token gets 401 with WWW-Authenticate: Bearer, a bad token 403 with the reason', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH);
    expect(await envoy(proxy, `/auth/${DASHBOARD_AUD}`)).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' } });
    expect(await envoy(proxy, `/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': 'garbage' })).toMatchObject({ status: 403, body: `${REFUSED}Could not parse JWT` });
  });

  test('with auth_redirect_url a browser without a token gets 302 to the login URL, redirect_after_login the original URL', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, `auth_redirect_url: ${LOGIN_URL}`);
    const answer = await envoy(proxy, `/auth/${DASHBOARD_AUD}`, BROWSER);
    expect(answer.status).toBe(302);
    expect(new URL(answer.headers.location!).searchParams.get('redirect_after_login')).toBe('https://shop.example.com/orders/7?view=full');
  });
});

describe('nginx auth_request (X-Original-URI)', () => {
  test('a valid token gets 200 with the identity headers, judged on X-Original-Method and X-Original-URI', async () => {
    const proxy = await verifier('true');
    const answer = await nginx(proxy, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) });
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-request': 'GET intranet.example.com/wiki/Main_Page' });
  });

  test('no token gets 401 with WWW-Authenticate: Bearer, a bad token 403 with the reason', async () => {
    const proxy = await verifier('true');
    expect(await nginx(proxy)).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' } });
    expect(await nginx(proxy, { 'cf-access-jwt-assertion': token(UNLISTED_AUD) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test('with auth_redirect_url a browser without a token gets 401 with the login URL in Location (auth_request passes only 401 and 403)', async () => {
    const proxy = await verifier('true', `auth_redirect_url: ${LOGIN_URL}`);
    const answer = await nginx(proxy, BROWSER);
    expect(answer.status).toBe(401);
    const location = new URL(answer.headers.location!);
    expect(`${location.origin}${location.pathname}`).toBe(LOGIN_URL);
    expect(location.searchParams.get('redirect_after_login')).toBe('http://intranet.example.com/wiki/Main_Page?action=edit');
  });

  test('with auth_redirect_url a browser with an expired token is sent to log in again', async () => {
    const proxy = await verifier('true', `auth_redirect_url: ${LOGIN_URL}`);
    const expired = accessToken(signingKey, accessClaims(now - 25 * 3600_000, DASHBOARD_AUD));
    const answer = await nginx(proxy, { ...BROWSER, cookie: `CF_Authorization=${expired}`, 'x-original-proto': 'https' });
    expect(answer.status).toBe(401);
    expect(new URL(answer.headers.location!).searchParams.get('redirect_after_login')).toBe('https://intranet.example.com/wiki/Main_Page?action=edit');
  });
});

describe('refusal_format: rfc6750', () => {
  test('a bad token gets 401 with WWW-Authenticate: Bearer error="invalid_token" and a JSON body', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, 'refusal_format: rfc6750');
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': token(REPORTS_AUD) });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(`Bearer realm="jwtproxy", error="invalid_token", error_description="Missing or invalid 'aud' claim"`);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual({ error: 'invalid_token', error_description: "Missing or invalid 'aud' claim" });
  });

  test('no token gets 401 with a bare Bearer challenge', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, 'refusal_format: rfc6750');
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`);
    expect(answer).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer realm="jwtproxy"' } });
  });

  test('a valid token the claims verifiers refuse gets 403 with error="insufficient_scope"', async () => {
    const proxy = await verifier(AUDIENCE_FROM_PATH, 'refusal_format: rfc6750\nclaims_verifiers: [{type: static, options: {country: FR}}]');
    const answer = await traefik(`${proxy.url}/auth/${DASHBOARD_AUD}`, { 'cf-access-jwt-assertion': token(DASHBOARD_AUD) });
    expect(answer.status).toBe(403);
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="jwtproxy", error="insufficient_scope"/);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'insufficient_scope' });
  });
});

describe('the original request is read only as the configured gateway sends it', () => {
  test('with gateway auto, a request carrying both Traefik and nginx headers is refused, not guessed', async () => {
    const proxy = await verifier('true', 'excludes: [/healthz]');
    const answer = await httpRequest(proxy.url, { headers: { 'x-original-uri': '/admin', 'x-original-method': 'GET', 'x-original-host': 'a.example', 'x-forwarded-uri': '/healthz' } });
    expect(answer.status).toBe(400);
  });

  test('with gateway nginx, a client-sent X-Forwarded-Uri is not read: the excluded path it names does not open /admin', async () => {
    const proxy = await verifier('{gateway: nginx}', 'excludes: [/healthz]');
    expect((await httpRequest(proxy.url, { headers: { 'x-original-uri': '/admin', 'x-original-method': 'GET', 'x-original-host': 'a.example', 'x-forwarded-uri': '/healthz' } })).status).toBe(401);
    expect((await httpRequest(proxy.url, { headers: { 'x-original-uri': '/healthz', 'x-original-method': 'GET', 'x-original-host': 'a.example' } })).status).toBe(200);
    // Without its own header the request is not nginx's.
    expect((await httpRequest(proxy.url, { headers: { 'x-forwarded-uri': '/healthz' } })).status).toBe(400);
  });

  test('with gateway envoy, neither header is read: the request path itself is judged', async () => {
    const proxy = await verifier('{gateway: envoy}', 'excludes: [/healthz]');
    expect((await httpRequest(`${proxy.url}/admin`, { headers: { 'x-forwarded-uri': '/healthz', 'x-original-uri': '/healthz' } })).status).toBe(401);
  });
});
