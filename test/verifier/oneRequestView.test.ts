// A hostile client in front of a verifier behind Cloudflare Access (real sockets, a local
// stand-in for the Access team): what a rule, an exclude or a header judges is exactly what the
// upstream receives. One request view; every token carrier checked; identity headers nobody
// can forge; no token in a log line.
import * as net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '../../src/app/loadConfig';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { accessClaims, accessKey, accessToken as signedAccessToken, audTag, CERTS_PATH, certsDocument, SERVICE_TOKEN_CLAIMS, TEAM_DOMAIN } from '../support/cloudflareAccess';
import { exchangeOn } from '../support/exchangeOn';
import { httpRequest } from '../support/httpRequest';
import { OpaStandIn } from '../support/opaStandIn';
import { dedent, startVerifierFromYaml, stopAfterEach, verifierFileYaml } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';
import { TestUpstream } from '../support/testUpstream';

const AUD_TAG = audTag();
const REFUSED = 'jwtproxy: unable to verify request: ';
const key = accessKey();
const forgerKey = accessKey();
let now = Date.now();
const clock = () => now;
const token = (claims: Record<string, unknown> = {}) => signedAccessToken(key, accessClaims(now, AUD_TAG, claims));
/** Signed by a key Access does not publish: a forged identity. */
const forged = (claims: Record<string, unknown> = {}) => signedAccessToken(forgerKey, accessClaims(now, AUD_TAG, { email: 'admin@example.com', ...claims }));

const track = stopAfterEach();
const access = new StandInServer();
const app = new TestUpstream();
let appUrl = '';

beforeAll(async () => {
  await access.listen();
  access.serve(CERTS_PATH, { body: certsDocument([key]) });
  appUrl = await app.listen();
});
afterAll(async () => {
  await access.close();
  await app.close();
});
beforeEach(() => {
  now = Date.now();
  app.received.length = 0;
});

function verifierYaml(extra: string): string {
  return `${dedent(`
    upstream: ${appUrl}
    provider:
      type: cloudflare_access
      options:
        team_domain: ${TEAM_DOMAIN}
        audience_tag: ${AUD_TAG}
        certs_url: ${access.url}${CERTS_PATH}`)}\n${dedent(extra)}`;
}

async function verifier(extra = '', logger?: pino.Logger): Promise<VerifierProxy> {
  return track(await startVerifierFromYaml(verifierYaml(extra), clock, logger));
}

const NOT_ADMIN_RULE = `
  claims_verifiers:
  - type: cel
    options:
      expression: '!request.path.startsWith("/admin")'
      message: the admin pages are closed`;

/** One raw request (target as written) on a fresh connection; the answer's status. */
async function rawStatus(proxy: VerifierProxy, target: string, headers: string[], version = '1.1'): Promise<number> {
  const { port } = new URL(proxy.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  // Host app.example unless the test writes its own (or none, in HTTP/1.0).
  const host = headers.some((line) => /^host:/i.test(line)) || version === '1.0' ? '' : 'host: app.example\r\n';
  const answer = await exchangeOn(socket, `GET ${target} HTTP/${version}\r\n${host}${headers.map((line) => `${line}\r\n`).join('')}connection: close\r\n\r\n`);
  socket.destroy();
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}

describe('one request, one truth: rules judge the path the upstream is sent', () => {
  test.each(['//admin', '/./admin', '/%61dmin', '/x/../admin', '/%2e%2e/admin', '/public/..;/admin', '/ADMIN/../admin/x'])(
    '%s is /admin for the rule exactly as for the upstream: refused',
    async (target) => {
      const proxy = await verifier(NOT_ADMIN_RULE);
      expect(await rawStatus(proxy, target, [`cf-access-jwt-assertion: ${token()}`])).toBe(403);
      expect(app.received).toHaveLength(0);
    },
  );

  test('an honest request passes, and the upstream gets the path the rule judged', async () => {
    const proxy = await verifier(NOT_ADMIN_RULE);
    expect(await rawStatus(proxy, '/reports/./2026//q%31?x=1', [`cf-access-jwt-assertion: ${token()}`])).toBe(200);
    expect(app.last.url).toBe('/reports/2026/q1?x=1');
  });

  test('the authorizer is asked about the normalised path, the one the upstream gets', async () => {
    const opa = new OpaStandIn();
    await opa.listen();
    try {
      opa.policy('jwtproxy/allow', (input) => ({ allow: (input as { request: { path: string } }).request.path !== '/admin' }));
      const proxy = await verifier(`
        claims_verifiers:
        - type: http
          options: {url: ${opa.url}/v1/data/jwtproxy/allow, dialect: opa}`);
      expect(await rawStatus(proxy, '/x/../%61dmin', [`cf-access-jwt-assertion: ${token()}`])).toBe(403);
      expect((opa.questions[0].input as { request: { path: string } }).request.path).toBe('/admin');
    } finally {
      await opa.close();
    }
  });

  test('excludes match the normalised path: /public/../admin is not public', async () => {
    const proxy = await verifier('excludes: [/public/*]');
    expect(await rawStatus(proxy, '/public/../admin', [])).toBe(403);
    expect(await rawStatus(proxy, '/public/%2e%2e/admin', [])).toBe(403);
    expect(await rawStatus(proxy, '/public/app.css', [])).toBe(200);
    expect(app.last.url).toBe('/public/app.css');
  });

  test.each(['/admin;x', '/admin;jsessionid=1/y', '/ADMIN%2F..%2Fadmin', '/x/%252e%252e/admin'])(
    '%s, which an application may read as another path than the rule would, is refused with 400 when a rule reads the path',
    async (target) => {
      const proxy = await verifier(NOT_ADMIN_RULE);
      expect(await rawStatus(proxy, target, [`cf-access-jwt-assertion: ${token()}`])).toBe(400);
      expect(app.received).toHaveLength(0);
    },
  );

  test('a WebSocket upgrade on such a path is refused with 400 as well, before any rule judges it', async () => {
    const proxy = await verifier(`
      claims_verifiers:
      - type: cel
        options:
          expression: 'request.path != "/admin"'`);
    const upgrade = ['upgrade: websocket', 'connection: Upgrade'];
    expect(await rawStatus(proxy, '/admin;x', [`cf-access-jwt-assertion: ${token()}`, ...upgrade])).toBe(400);
    expect(await rawStatus(proxy, '/admin', [`cf-access-jwt-assertion: ${token()}`, ...upgrade])).toBe(403);
    expect(app.received).toHaveLength(0);
  });

  test('such a path is never excluded, and passes with a valid token where no rule reads the path', async () => {
    const proxy = await verifier('excludes: [/public/*]');
    expect(await rawStatus(proxy, '/public/x;y', [])).toBe(403);
    expect(await rawStatus(proxy, '/public/x;y', [`cf-access-jwt-assertion: ${token()}`])).toBe(200);
    expect(app.last.url).toBe('/public/x;y');
  });
});

describe('every token carrier', () => {
  test('two CF_Authorization cookies, a valid and a forged one, are refused (400)', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { cookie: `CF_Authorization=${token()}; CF_Authorization=${forged()}` } });
    expect(answer).toMatchObject({ status: 400, body: `${REFUSED}More than one token in the request` });
    expect(app.received).toHaveLength(0);
  });

  test('a valid header next to a forged cookie is refused', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': token(), cookie: `CF_Authorization=${forged()}` } });
    expect(answer.status).toBe(400);
    expect(app.received).toHaveLength(0);
  });

  test('an underscore spelling of the token header with another token is refused', async () => {
    const proxy = await verifier();
    expect(await rawStatus(proxy, '/', [`Cf-Access-Jwt-Assertion: ${token()}`, `Cf_Access_Jwt_Assertion: ${forged()}`])).toBe(400);
    expect(app.received).toHaveLength(0);
  });

  test('a cookie name in another case with another token is refused', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { cookie: `CF_Authorization=${token()}; cf_authorization=${forged()}` } });
    expect(answer.status).toBe(400);
  });

  test('a repeated query parameter with two tokens is refused', async () => {
    const proxy = await verifier('token_sources: [{query: access_token}]');
    expect((await httpRequest(`${proxy.url}/?access_token=${token()}&access_token=${forged()}`)).status).toBe(400);
    // Decoded names are one name to the application: %61ccess_token is access_token.
    expect((await httpRequest(`${proxy.url}/?access_token=${token()}&%61ccess_token=${forged()}`)).status).toBe(400);
    expect(app.received).toHaveLength(0);
  });

  test('query parameters an application reads as the carrier (";" separators, case, "." or " " for "_", "[]") count as copies', async () => {
    const proxy = await verifier('token_sources: [{query: access_token}]');
    const good = token();
    for (const smuggled of [
      `a=1;access_token=${forged()}&access_token=${good}`,
      `access.token=${forged()}&access_token=${good}`,
      `ACCESS_TOKEN=${forged()}&access_token=${good}`,
      `access_token[]=${forged()}&access_token=${good}`,
    ]) {
      expect((await httpRequest(`${proxy.url}/?${smuggled}`)).status).toBe(400);
    }
    expect(app.received).toHaveLength(0);
    expect((await httpRequest(`${proxy.url}/p?a=1;Access.Token=${good}&b=2`)).status).toBe(200);
    expect(app.last.url).toBe('/p?a=1&b=2');
  });

  test('cookie names an application reads as the carrier (CF.Authorization, percent-encoded, after a comma) count as copies', async () => {
    const proxy = await verifier();
    const good = token();
    for (const cookie of [`CF.Authorization=${forged()}`, `CF%5FAuthorization=${forged()}`, `x=1, CF_Authorization=${forged()}`]) {
      expect((await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': good, cookie } })).status).toBe(400);
    }
    expect(app.received).toHaveLength(0);
  });

  test('a second Authorization header is refused', async () => {
    const proxy = await verifier('token_sources: [authorization, {cookie: CF_Authorization}]');
    expect(await rawStatus(proxy, '/', [`authorization: Bearer ${token()}`, `authorization: Bearer ${forged()}`])).toBe(400);
  });

  test('the same token in the header and the cookie passes; the upstream gets each carrier once, with the verified token', async () => {
    const proxy = await verifier();
    const good = token();
    expect(await rawStatus(proxy, '/', [`cf-access-jwt-assertion: ${good}`, `cf_access_jwt_assertion: ${good}`, `cookie: theme=dark; CF_Authorization=${good}; CF_Authorization=${good}`])).toBe(200);
    const names = app.last.rawHeaders.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(names.filter((name) => name.replace(/_/g, '-') === 'cf-access-jwt-assertion')).toEqual(['cf-access-jwt-assertion']);
    expect(app.last.headers['cf-access-jwt-assertion']).toBe(good);
    expect(app.last.headers.cookie).toBe(`theme=dark; CF_Authorization=${good}`);
  });

  test('other cookies reach the upstream as sent, a value with commas included', async () => {
    const proxy = await verifier();
    const good = token();
    expect((await httpRequest(`${proxy.url}/`, { headers: { cookie: `prefs={"a":1,"b":2}; CF_Authorization=${good}; x=1` } })).status).toBe(200);
    expect(app.last.headers.cookie).toBe(`prefs={"a":1,"b":2}; CF_Authorization=${good}; x=1`);
  });

  test('a token in the query never reaches the upstream URL; the other parameters do, as sent', async () => {
    const proxy = await verifier('token_sources: [{query: access_token}]');
    expect((await httpRequest(`${proxy.url}/page?a=1&access_token=${token()}&b=x%20y`)).status).toBe(200);
    expect(app.last.url).toBe('/page?a=1&b=x%20y');
  });

  test('on an excluded path no carrier is vouched for: every one is stripped', async () => {
    const proxy = await verifier('excludes: [/public/*]');
    const answer = await httpRequest(`${proxy.url}/public/x`, { headers: { 'cf-access-jwt-assertion': forged(), cookie: `a=1; CF_Authorization=${forged()}` } });
    expect(answer.status).toBe(200);
    expect(app.last.headers['cf-access-jwt-assertion']).toBeUndefined();
    expect(app.last.headers.cookie).toBe('a=1');
  });
});

describe('identity headers nobody can forge', () => {
  test("the provider's own identity header is set from the verified token, never taken from the client", async () => {
    const proxy = await verifier();
    await rawStatus(proxy, '/', [
      `cf-access-jwt-assertion: ${token({ email: 'ada@example.com' })}`,
      'Cf-Access-Authenticated-User-Email: admin@example.com',
      'Cf_Access_Authenticated_User_Email: admin@example.com',
    ]);
    expect(app.last.headers['cf-access-authenticated-user-email']).toBe('ada@example.com');
    expect(app.last.headers.cf_access_authenticated_user_email).toBeUndefined();
  });

  test('a service token (no email) gets no email header, whatever the client sent', async () => {
    const proxy = await verifier();
    await httpRequest(`${proxy.url}/`, {
      headers: { 'cf-access-jwt-assertion': signedAccessToken(key, accessClaims(now, AUD_TAG, SERVICE_TOKEN_CLAIMS)), 'cf-access-authenticated-user-email': 'admin@example.com' },
    });
    expect(app.last.headers['cf-access-authenticated-user-email']).toBeUndefined();
  });

  test('client-address headers pass only from a trusted proxy', async () => {
    const forgedAddresses = { 'cf-connecting-ip': '203.0.113.9', 'true-client-ip': '203.0.113.9', 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9' };
    const untrusting = await verifier();
    await httpRequest(`${untrusting.url}/`, { headers: { 'cf-access-jwt-assertion': token(), ...forgedAddresses } });
    for (const name of Object.keys(forgedAddresses)) expect(app.last.headers[name]).toBeUndefined();
    const trusting = await verifier('trusted_proxies: [127.0.0.1, "::1"]');
    await httpRequest(`${trusting.url}/`, { headers: { 'cf-access-jwt-assertion': token(), ...forgedAddresses } });
    expect(app.last.headers).toMatchObject(forgedAddresses);
  });

  test('only_from_trusted_proxies: any other peer is refused before its token is read; the trusted proxy is served', async () => {
    const elsewhere = await verifier('trusted_proxies: [10.0.0.0/8]\nonly_from_trusted_proxies: true');
    const refused = await httpRequest(`${elsewhere.url}/`, { headers: { 'cf-access-jwt-assertion': token() } });
    expect(refused).toMatchObject({ status: 403, body: 'jwtproxy: this verifier answers only requests that come through its trusted proxies\n' });
    expect(app.received).toHaveLength(0);
    const here = await verifier('trusted_proxies: [127.0.0.1, "::1"]\nonly_from_trusted_proxies: true');
    expect((await httpRequest(`${here.url}/`, { headers: { 'cf-access-jwt-assertion': token() } })).status).toBe(200);
    expect(() => parseConfig(verifierFileYaml(verifierYaml('only_from_trusted_proxies: true')))).toThrow(/only_from_trusted_proxies: needs trusted_proxies/);
  });

  test('client-certificate headers pass only from a trusted proxy', async () => {
    const forgedCertificate = {
      'client-cert': ':MIIB:',
      'x-ssl-client-verify': 'SUCCESS',
      'x-amzn-mtls-clientcert-subject': 'CN=admin',
      'x-amzn-mtls-clientcert': 'MIIB',
      'cf-cert-verified': 'true',
    };
    const untrusting = await verifier();
    await httpRequest(`${untrusting.url}/`, { headers: { 'cf-access-jwt-assertion': token(), ...forgedCertificate } });
    for (const name of Object.keys(forgedCertificate)) expect(app.last.headers[name]).toBeUndefined();
    const trusting = await verifier('trusted_proxies: [127.0.0.1, "::1"]');
    await httpRequest(`${trusting.url}/`, { headers: { 'cf-access-jwt-assertion': token(), ...forgedCertificate } });
    expect(app.last.headers).toMatchObject(forgedCertificate);
  });

  test('headers that make an application run another method or path than the one judged never pass', async () => {
    const proxy = await verifier();
    const rewriting = { 'x-http-method-override': 'DELETE', 'x-original-url': '/admin', 'x-rewrite-url': '/admin', 'x-method-override': 'DELETE' };
    await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': token(), ...rewriting } });
    for (const name of Object.keys(rewriting)) expect(app.last.headers[name]).toBeUndefined();
  });

  test('claims_to_headers names are one header in either spelling, stripped in both', async () => {
    const proxy = await verifier('claims_to_headers: {X_Auth_Email: claims.email}');
    await rawStatus(proxy, '/', [`cf-access-jwt-assertion: ${token({ email: 'ada@example.com' })}`, 'X-Auth-Email: admin@example.com', 'x_auth_email: admin@example.com']);
    const emails = app.last.rawHeaders.flatMap((name, index) => (index % 2 === 0 && name.toLowerCase().replace(/_/g, '-') === 'x-auth-email' ? [app.last.rawHeaders[index + 1]] : []));
    expect(emails).toEqual(['ada@example.com']);
  });

  test.each(['X_Forwarded_For', 'x-original-uri', 'Content-Encoding', 'Forwarded'])('%s, a name the proxy owns, is refused in claims_to_headers', (name) => {
    expect(() => parseConfig(verifierFileYaml(verifierYaml(`claims_to_headers: {${name}: claims.email}`)))).toThrow(/is reserved for the proxy itself/);
  });

  test('two spellings of one header in claims_to_headers are refused', () => {
    expect(() => parseConfig(verifierFileYaml(verifierYaml('claims_to_headers: {X-Auth-Email: claims.email, X_Auth_Email: claims.sub}')))).toThrow(/is the same header as "X-Auth-Email"/);
  });
});

describe('no token in a log line', () => {
  function capturingLogger(): { logger: pino.Logger; lines: string[] } {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    return { logger: pino({ level: 'debug' }, sink), lines };
  }

  test('a refused request is logged with its normalised path, without the query that held the token', async () => {
    const { logger, lines } = capturingLogger();
    const proxy = await verifier('token_sources: [{query: access_token}]', logger);
    const secret = forged();
    expect((await httpRequest(`${proxy.url}/a/../page?access_token=${secret}`)).status).toBe(403);
    const refusal = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'request refused');
    expect(refusal).toMatchObject({ path: '/page', method: 'GET' });
    expect(lines.join('')).not.toContain(secret.split('.')[1]);
  });

  test('a malformed request is logged at debug without its raw bytes', async () => {
    const { logger, lines } = capturingLogger();
    const proxy = await verifier('', logger);
    const secret = token();
    const { port } = new URL(proxy.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await exchangeOn(socket, `GET / HTTP/1.1\r\ncf-access-jwt-assertion: ${secret}\r\nbad header line\r\n\r\n`);
    socket.destroy();
    expect(lines.some((line) => line.includes('malformed client request'))).toBe(true);
    expect(lines.join('')).not.toContain(secret.split('.')[1]);
  });
});

describe('the login return URL is built from trusted values only', () => {
  const LOGIN = 'auth_redirect_url: https://login.example/sso';
  const browser = { accept: 'text/html' };

  test("an untrusted client's X-Forwarded-Proto and -Host are not believed; a trusted proxy's are", async () => {
    const untrusting = await verifier(LOGIN);
    const spoofed = await httpRequest(`${untrusting.url}/page?access_token=x`, { headers: { ...browser, host: 'app.example', 'x-forwarded-proto': 'javascript', 'x-forwarded-host': 'evil.example' } });
    expect(new URL(spoofed.headers.location!).searchParams.get('redirect_after_login')).toBe('http://app.example/page?access_token=x');
    const trusting = await verifier(`${LOGIN}\ntrusted_proxies: [127.0.0.1, "::1"]`);
    const behindProxy = await httpRequest(`${trusting.url}/page`, { headers: { ...browser, host: 'internal:8080', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' } });
    expect(new URL(behindProxy.headers.location!).searchParams.get('redirect_after_login')).toBe('https://app.example/page');
    // Only http and https: anything else falls back to the listener's own scheme.
    const odd = await httpRequest(`${trusting.url}/page`, { headers: { ...browser, host: 'app.example', 'x-forwarded-proto': 'javascript' } });
    expect(new URL(odd.headers.location!).searchParams.get('redirect_after_login')).toBe('http://app.example/page');
  });

  test('without a host name there is no return URL: the refusal is plain (http:///evil.example/x would read as a host)', async () => {
    const proxy = await verifier(LOGIN);
    expect(await rawStatus(proxy, '/evil.example/x', ['accept: text/html'], '1.0')).toBe(403);
    for (const host of ['a_b', 'evil.example:443@x']) expect(await rawStatus(proxy, '/evil.example/x', [`host: ${host}`, 'accept: text/html'])).toBe(403);
  });

  test('the query parameter that carries the token is not put into the return URL', async () => {
    const proxy = await verifier(`${LOGIN}\ntoken_sources: [{query: access_token}]`);
    const answer = await httpRequest(`${proxy.url}/page?a=1&access_token=${forged()}`, { headers: { ...browser, host: 'app.example' } });
    expect(new URL(answer.headers.location!).searchParams.get('redirect_after_login')).toBe('http://app.example/page?a=1');
  });
});
