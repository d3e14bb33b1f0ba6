// REAL nginx with auth_request in front of the REAL jwtproxy command line (dist/, a child
// process) in forward-auth mode, and an application that echoes the headers it got: the
// shipped examples/nginx-auth-request.conf and examples/cloudflare-access-forward-auth.yaml,
// with only their addresses changed and the Access certs URL pointed at a stand-in team.
// Run `npm run build` first (npm test does). Fails, never skips, when nginx is missing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { runCli, tempDir, type RunningCli } from '../support/cli';
import { accessClaims, accessKey, accessToken, CERTS_PATH, certsDocument, SERVICE_TOKEN_CLAIMS } from '../support/cloudflareAccess';
import { httpRequest } from '../support/httpRequest';
import { nginxBinary, startNginx, type RunningNginx } from '../support/nginx';
import { StandInServer } from '../support/standInServer';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

const EXAMPLES = path.resolve(__dirname, '../../examples');
const NGINX_EXAMPLE = fs.readFileSync(path.join(EXAMPLES, 'nginx-auth-request.conf'), 'utf8');
const JWTPROXY_EXAMPLE = fs.readFileSync(path.join(EXAMPLES, 'cloudflare-access-forward-auth.yaml'), 'utf8');

interface ExampleVerifier {
  provider: { options: { team_domain: string; audience_tag: string; certs_url?: string } };
  auth_redirect_url: string;
  excludes?: string[];
  claims_verifiers?: unknown[];
}
interface ExampleEntry {
  listen_addr: string;
  socket_permission?: string;
  shutdown_timeout?: string;
  verifier: ExampleVerifier;
}

const example = YAML.parse(JWTPROXY_EXAMPLE, { version: '1.1' }) as { jwtproxy: { workers?: number; verifier_proxies: ExampleEntry[] } };
const exampleVerifier = example.jwtproxy.verifier_proxies[0].verifier;
const TEAM_ISSUER = `https://${exampleVerifier.provider.options.team_domain}`;
const AUD_TAG = exampleVerifier.provider.options.audience_tag;
const LOGIN_URL = exampleVerifier.auth_redirect_url;
const HOST = 'app.example.com';

/** `text` with `from` replaced by `to`, where `from` must occur exactly once. */
function replaceOnce(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`examples/nginx-auth-request.conf should hold ${JSON.stringify(from)} exactly once`);
  return text.replace(from, () => to);
}

const signingKey = accessKey();
/** A token of the example's Access team for the example's application, issued now. */
const token = (claims: Record<string, unknown> = {}) => accessToken(signingKey, accessClaims(Date.now(), AUD_TAG, { iss: TEAM_ISSUER, ...claims }));
const BROWSER = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

const access = new StandInServer();
// The application: echoes the headers it received as JSON.
const app = new TestUpstream((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers)));
let jwtproxy: RunningCli | undefined;
let nginx: RunningNginx | undefined;

beforeAll(async () => {
  nginxBinary(); // a clear failure when nginx is missing, before anything starts
  await access.listen();
  access.serve(CERTS_PATH, { body: certsDocument([signingKey]) });
  const appUrl = await app.listen();
  const dir = tempDir();

  // jwtproxy listens on a unix socket: it binds no guessed port, and nginx reaches it by path.
  const socket = path.join(dir, 'jwtproxy.sock');
  const entry = example.jwtproxy.verifier_proxies[0];
  entry.listen_addr = `unix:${socket}`;
  entry.socket_permission = '0666'; // the nginx worker may run as another user
  entry.shutdown_timeout = '1s';
  entry.verifier.provider.options.certs_url = `${access.url}${CERTS_PATH}`;
  // What an operator adds: public assets without a token, and a rule on the path.
  entry.verifier.excludes = ['/public/*'];
  entry.verifier.claims_verifiers = [{ type: 'cel', options: { expression: '!request.path.startsWith("/admin")', message: 'the admin pages are closed' } }];
  // One process: its one "key set loaded" line means every request finds the keys.
  example.jwtproxy.workers = 1;
  jwtproxy = runCli(YAML.stringify(example));
  await jwtproxy.waitFor('"msg":"verifier proxy started"');
  await jwtproxy.waitFor('"msg":"key set loaded"');

  nginx = await startNginx(dir, (port) => {
    let server = replaceOnce(NGINX_EXAMPLE, 'listen 80;', `listen 127.0.0.1:${port};`);
    server = replaceOnce(server, 'proxy_pass http://127.0.0.1:8081/;', `proxy_pass http://unix:${socket}:/;`);
    return replaceOnce(server, 'proxy_pass http://127.0.0.1:8080;', `proxy_pass ${appUrl};`);
  });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  if (jwtproxy) await stopCli(jwtproxy);
  await app.close();
  await access.close();
});

beforeEach(() => {
  app.received.length = 0;
});

/** A request to nginx for `target` with Host app.example.com. */
const get = (target: string, headers: Record<string, string> = {}) => httpRequest(`${nginx!.url}${target}`, { headers: { host: HOST, ...headers } });

test('a valid Access token in Cf-Access-Jwt-Assertion is let through: the application sees X-Auth-Email and X-Auth-Groups', async () => {
  const answer = await get('/reports/2026?format=pdf', { 'cf-access-jwt-assertion': token() });
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-groups': 'engineering,on-call' });
  expect(app.last.url).toBe('/reports/2026?format=pdf');
});

test('the token in the CF_Authorization cookie of a browser is let through as well', async () => {
  const answer = await get('/', { ...BROWSER, cookie: `CF_Authorization=${token()}` });
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)['x-auth-email']).toBe('ada@example.com');
});

test('an X-Auth-Email sent by the client never reaches the application', async () => {
  const forged = { 'x-auth-email': 'admin@example.com' };
  const user = await get('/', { 'cf-access-jwt-assertion': token(), ...forged });
  expect(JSON.parse(user.body)['x-auth-email']).toBe('ada@example.com');
  // A service token has no email: nginx sends no X-Auth-Email at all.
  const service = await get('/', { 'cf-access-jwt-assertion': token(SERVICE_TOKEN_CLAIMS), ...forged });
  expect(service.status).toBe(200);
  expect(JSON.parse(service.body)['x-auth-email']).toBeUndefined();
});

test('a bad token is denied with 403 and never reaches the application', async () => {
  const forAnotherApplication = token({ aud: ['0'.repeat(64)] });
  expect((await get('/', { 'cf-access-jwt-assertion': forAnotherApplication })).status).toBe(403);
  expect((await get('/', { 'cf-access-jwt-assertion': 'not-a-jwt' })).status).toBe(403);
  expect(app.received).toHaveLength(0);
});

test('no token gets 401 and never reaches the application', async () => {
  expect((await get('/reports/2026')).status).toBe(401);
  expect(app.received).toHaveLength(0);
});

test('a browser without a token is sent (302) to the login URL, redirect_after_login the URL it asked for', async () => {
  const answer = await get('/reports/2026?format=pdf', BROWSER);
  expect(answer.status).toBe(302);
  const location = new URL(answer.headers.location!);
  expect(`${location.origin}${location.pathname}`).toBe(LOGIN_URL);
  expect(location.searchParams.get('redirect_after_login')).toBe(`http://${HOST}/reports/2026?format=pdf`);
  expect(app.received).toHaveLength(0);
});

describe('a hostile client behind nginx', () => {
  test('a public path is let through without a token; /public/..%2fadmin/x, which the application may read as /admin/x, is not public', async () => {
    expect((await get('/public/style.css')).status).toBe(200);
    app.received.length = 0;
    // Never excluded: no token is 401, or (the rule reads the path) refused as ambiguous, nginx's 500.
    expect([401, 500]).toContain((await get('/public/..%2fadmin/x')).status);
    expect([401, 500]).toContain((await get('/public/%2e%2e/admin/x')).status);
    expect((await get('/public/../admin/x')).status).toBe(401);
    expect(app.received).toHaveLength(0);
  });

  test('a rule that closes /admin closes every spelling of it; a path the gateway may read otherwise is refused', async () => {
    for (const target of ['/admin', '/%61dmin', '//admin', '/x/../admin']) expect((await get(target, { 'cf-access-jwt-assertion': token() })).status).toBe(403);
    // nginx turns jwtproxy's 400 into a 500: the request is refused, never guessed.
    for (const target of ['/x/..%2fadmin', '/x%5c..%5cadmin', '/%c0%ae%c0%ae/admin']) expect([400, 500]).toContain((await get(target, { 'cf-access-jwt-assertion': token() })).status);
    expect(app.received).toHaveLength(0);
    expect((await get('/reports', { 'cf-access-jwt-assertion': token() })).status).toBe(200);
  });

  test('a literal "#" (where nginx ends the path) never opens an excluded path: /admin#/../public/x is not public', async () => {
    for (const target of ['/admin#/../public/x', '/admin//../public/x']) expect((await get(target)).status).not.toBe(200);
    expect(app.received).toHaveLength(0);
  });

  test('a provider identity header the token does not vouch for is refused: nginx would pass it on to the application', async () => {
    const forgedEmail = await get('/', { 'cf-access-jwt-assertion': token(), 'cf-access-authenticated-user-email': 'admin@example.com' });
    expect([400, 500]).toContain(forgedEmail.status);
    expect(app.received).toHaveLength(0);
    // The one Access itself sets, with the token's email, passes.
    expect((await get('/', { 'cf-access-jwt-assertion': token(), 'cf-access-authenticated-user-email': 'ada@example.com' })).status).toBe(200);
  });

  test("the client's own X-Forwarded-Host is never read: the return URL names the host nginx served", async () => {
    const answer = await get('/reports', { ...BROWSER, 'x-forwarded-host': 'evil.example' });
    expect(answer.status).toBe(302);
    expect(new URL(answer.headers.location!).searchParams.get('redirect_after_login')).toBe(`http://${HOST}/reports`);
  });

  test('a forged identity header next to a valid token never reaches the application', async () => {
    const answer = await get('/', { 'cf-access-jwt-assertion': token(), cookie: `CF_Authorization=${token({ email: 'admin@example.com' })}` });
    // Two different tokens: refused (jwtproxy's 400 is nginx's 500).
    expect([400, 500]).toContain(answer.status);
    expect(app.received).toHaveLength(0);
  });
});
