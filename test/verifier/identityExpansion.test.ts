// Identity expansion behind Cloudflare Access: a verifier that fetches each token's
// expanded identity from the team's get-identity endpoint — a local stand-in answering
// Cloudflare's exact document for the token in the CF_Authorization cookie — and decides
// from it (device posture in a CEL rule) and hands it on (claims_to_headers). Real HTTP
// servers on port 0, tokens signed with node:crypto, the clock injected.
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { AccessTeamStandIn } from '../support/accessTeam';
import { accessClaims, accessIdentity, accessKey, accessToken, audTag, certsDocument, DISK_ENCRYPTION_RULE, FIREWALL_RULE, GET_IDENTITY_PATH } from '../support/cloudflareAccess';
import { httpRequest } from '../support/httpRequest';
import { seconds } from '../support/jws';
import { dedent, startVerifierFromYaml, stopAfterEach } from '../support/providerVerifier';
import { TestUpstream } from '../support/testUpstream';

const AUD_TAG = audTag();
const REFUSED = 'jwtproxy: unable to verify request: ';
const key = accessKey();

let now = Date.now();
const clock = () => now;

const track = stopAfterEach();
const team = new AccessTeamStandIn();
const app = new TestUpstream();
let appUrl = '';

beforeAll(async () => {
  await team.listen();
  appUrl = await app.listen();
  team.certs = certsDocument([key]);
});
afterAll(async () => {
  await team.close();
  await app.close();
});
beforeEach(() => {
  now = Date.now();
  team.behaviour = { answer: 'identity' };
  team.identityOf = () => accessIdentity();
  team.identityRequests.length = 0;
  app.received.length = 0;
});

/** A token of the stand-in team (iss its origin) for AUD_TAG, issued now; `claims` override. */
const token = (claims: Record<string, unknown> = {}) => accessToken(key, accessClaims(now, AUD_TAG, { iss: team.url, ...claims }));
const get = (proxy: VerifierProxy, jwt: string) => httpRequest(`${proxy.url}/reports`, { headers: { 'cf-access-jwt-assertion': jwt } });

const POSTURE_HEADERS = `
  claims_to_headers:
    X-Auth-Email: identity.email
    X-Auth-Groups: 'identity.groups.map(g, g.name)'
    X-Disk-Encrypted: 'identity.devicePosture["${DISK_ENCRYPTION_RULE}"].success'
    X-Firewall-On: 'identity.devicePosture["${FIREWALL_RULE}"].success'`;

/** A verifier behind the stand-in team: its certs and get-identity at the team domain, as Cloudflare's are; `extra` is more YAML. */
async function verifier(identity = '{}', extra = ''): Promise<VerifierProxy> {
  const yaml = dedent(`
    upstream: ${appUrl}
    provider:
      type: cloudflare_access
      options:
        team_domain: ${team.url}
        audience_tag: ${AUD_TAG}
    identity: ${identity}`);
  return track(await startVerifierFromYaml(`${yaml}\n${dedent(extra)}`, clock));
}

const diskEncryptionRule = dedent(`
  claims_verifiers:
  - type: cel
    options:
      expression: 'identity.devicePosture["${DISK_ENCRYPTION_RULE}"].success'
      message: the device's disks must be encrypted`);

describe('the expanded identity in policy and headers', () => {
  test('get-identity is asked at <team_domain>/cdn-cgi/access/get-identity with the token as the CF_Authorization cookie', async () => {
    const proxy = await verifier();
    const jwt = token();
    expect((await get(proxy, jwt)).status).toBe(200);
    expect(team.identityRequests).toHaveLength(1);
    expect(team.identityRequests[0].cookie).toBe(`CF_Authorization=${jwt}`);
    expect(team.identityRequests[0].authorization).toBeUndefined();
  });

  test('a CEL rule on a device posture check that passed (disk encryption) lets the request through', async () => {
    const proxy = await verifier('{}', diskEncryptionRule);
    expect(await get(proxy, token())).toMatchObject({ status: 200, body: 'ok' });
  });

  test("a CEL rule on a device posture check that failed (the firewall) refuses the request with the rule's message", async () => {
    const proxy = await verifier(
      '{}',
      `claims_verifiers:
       - type: cel
         options: {expression: 'identity.devicePosture["${FIREWALL_RULE}"].success', message: the device's firewall must be on}`,
    );
    expect(await get(proxy, token())).toMatchObject({ status: 403, body: `${REFUSED}Error verifying claims: the device's firewall must be on` });
    expect(app.received).toHaveLength(0);
  });

  test('the same rule refuses a user whose disk encryption check failed', async () => {
    const identity = accessIdentity();
    const posture = identity.devicePosture as Record<string, Record<string, unknown>>;
    team.identityOf = () => ({ ...identity, devicePosture: { ...posture, [DISK_ENCRYPTION_RULE]: { ...posture[DISK_ENCRYPTION_RULE], success: false } } });
    const proxy = await verifier('{}', diskEncryptionRule);
    expect(await get(proxy, token())).toMatchObject({ status: 403, body: `${REFUSED}Error verifying claims: the device's disks must be encrypted` });
  });

  test('a rule on the groups get-identity lists, which the token does not carry, decides', async () => {
    const rule = (group: string) => `claims_verifiers: [{type: cel, options: {expression: '"${group}" in identity.groups.map(g, g.name)'}}]`;
    expect((await get(await verifier('{}', rule('Security Team')), token())).status).toBe(200);
    expect((await get(await verifier('{}', rule('Finance')), token())).status).toBe(403);
  });

  test('device posture, groups and email reach the application as headers', async () => {
    const proxy = await verifier('{}', POSTURE_HEADERS);
    expect((await get(proxy, token())).status).toBe(200);
    expect(app.last.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-groups': 'Security Team,Engineering', 'x-disk-encrypted': 'true', 'x-firewall-on': 'false' });
  });

  test('a client cannot send its own posture header: the one from the identity replaces it', async () => {
    const proxy = await verifier('{}', POSTURE_HEADERS);
    await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': token(), 'x-firewall-on': 'true' } });
    expect(app.last.headers['x-firewall-on']).toBe('false');
  });
});

describe('one fetch per token', () => {
  test('repeated requests with one token fetch its identity once, and every one of them sees it', async () => {
    const proxy = await verifier('{}', POSTURE_HEADERS);
    const jwt = token();
    for (let i = 0; i < 5; i++) {
      expect((await get(proxy, jwt)).status).toBe(200);
      now += 60_000;
    }
    expect(team.identityRequests).toHaveLength(1);
    expect(app.received.map((request) => request.headers['x-disk-encrypted'])).toEqual(['true', 'true', 'true', 'true', 'true']);
  });

  test('concurrent requests with one token share a single fetch', async () => {
    const proxy = await verifier('{}', POSTURE_HEADERS);
    const jwt = token();
    const release = team.hold();
    const answers = Promise.all(Array.from({ length: 10 }, () => get(proxy, jwt)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    expect((await answers).map((answer) => answer.status)).toEqual(new Array(10).fill(200));
    expect(team.identityRequests).toHaveLength(1);
  });

  test('each token has its own identity', async () => {
    team.identityOf = (jwt) => accessIdentity({ email: jwt === second ? 'grace@example.com' : 'ada@example.com' });
    const proxy = await verifier('{}', POSTURE_HEADERS);
    const first = token();
    const second = token({ email: 'grace@example.com', sub: 'a4c7e2b1-0f3d-4e5a-9b8c-7d6e5f4a3b2c' });
    await get(proxy, first);
    await get(proxy, second);
    expect(app.received.map((request) => request.headers['x-auth-email'])).toEqual(['ada@example.com', 'grace@example.com']);
    expect(team.identityRequests).toHaveLength(2);
  });

  test("an identity is kept until the token's exp: past it (within max_skew) it is fetched again", async () => {
    const proxy = await verifier();
    const jwt = token({ exp: seconds(now) + 120 });
    await get(proxy, jwt);
    now += 100_000;
    await get(proxy, jwt);
    expect(team.identityRequests).toHaveLength(1);
    now += 30_000; // 10 s past exp: the token is still accepted with the default 60 s of max_skew
    expect((await get(proxy, jwt)).status).toBe(200);
    expect(team.identityRequests).toHaveLength(2);
  });

  test('the cache holds cache_entries identities: the least recently used one is fetched again', async () => {
    const proxy = await verifier('{cache_entries: 2}');
    const [a, b, c] = ['a', 'b', 'c'].map((user) => token({ sub: `user-${user}` }));
    for (const jwt of [a, b, a, c, b]) expect((await get(proxy, jwt)).status).toBe(200);
    // a, b fetched; a cached; c fetched (b, the least recently used, goes); b fetched again.
    expect(team.identityRequests).toHaveLength(4);
  });
});

describe('get-identity unavailable', () => {
  const UNAVAILABLE = { status: 503, body: `${REFUSED}Identity unavailable` };

  test('down, with the identity required (the default): 503 Identity unavailable, and nothing reaches the application', async () => {
    team.behaviour = { answer: 'down' };
    const proxy = await verifier();
    expect(await get(proxy, token())).toMatchObject(UNAVAILABLE);
    expect(app.received).toHaveLength(0);
  });

  test('answering other than 200 (a token get-identity does not know): 503', async () => {
    team.behaviour = { answer: 'status', status: 400 };
    const proxy = await verifier();
    expect(await get(proxy, token())).toMatchObject(UNAVAILABLE);
  });

  test('answering something that is not JSON (a login page): 503', async () => {
    team.behaviour = { answer: 'not json' };
    const proxy = await verifier();
    expect(await get(proxy, token())).toMatchObject(UNAVAILABLE);
  });

  test('answering JSON that is not an object: 503', async () => {
    team.identityOf = () => ['not', 'an', 'identity'] as unknown as Record<string, unknown>;
    const proxy = await verifier();
    expect(await get(proxy, token())).toMatchObject(UNAVAILABLE);
  });

  test('slower than the timeout: 503 once the timeout has passed', async () => {
    team.behaviour = { answer: 'hang' };
    const proxy = await verifier('{timeout: 300ms}');
    const started = Date.now();
    expect(await get(proxy, token())).toMatchObject(UNAVAILABLE);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test('a failure is not kept: once get-identity answers again, the same token goes through', async () => {
    team.behaviour = { answer: 'down' };
    const proxy = await verifier();
    const jwt = token();
    expect((await get(proxy, jwt)).status).toBe(503);
    team.behaviour = { answer: 'identity' };
    expect((await get(proxy, jwt)).status).toBe(200);
  });

  test('with required: false the request goes on without identity: no identity headers, and a rule on it refuses', async () => {
    team.behaviour = { answer: 'down' };
    const open = await verifier('{required: false}', POSTURE_HEADERS);
    expect((await get(open, token())).status).toBe(200);
    expect(app.last.headers['x-auth-email']).toBeUndefined();
    expect(app.last.headers['x-disk-encrypted']).toBeUndefined();
    const guarded = await verifier('{required: false}', diskEncryptionRule);
    expect(await get(guarded, token())).toMatchObject({ status: 403, body: `${REFUSED}Error verifying claims: the device's disks must be encrypted` });
  });

  test('an invalid token is refused before get-identity is asked', async () => {
    const proxy = await verifier();
    expect((await get(proxy, token({ aud: [audTag()] }))).status).toBe(403);
    expect(team.identityRequests).toHaveLength(0);
  });
});

describe('a generic identity endpoint', () => {
  test('without a provider, the url given is asked with the token as Authorization: Bearer', async () => {
    const yaml = dedent(`
      upstream: ${appUrl}
      audiences: [${AUD_TAG}]
      issuers: ['${team.url}']
      single_use: false
      token_sources: [{header: Cf-Access-Jwt-Assertion}]
      key_server: {type: jwks, options: {url: '${team.url}/cdn-cgi/access/certs'}}
      identity: {url: '${team.url}${GET_IDENTITY_PATH}'}
      claims_to_headers: {X-Auth-Name: identity.name}`);
    const proxy = track(await startVerifierFromYaml(yaml, clock));
    const jwt = token();
    expect((await get(proxy, jwt)).status).toBe(200);
    expect(team.identityRequests[0]).toMatchObject({ authorization: `Bearer ${jwt}` });
    expect(team.identityRequests[0].cookie).toBeUndefined();
    expect(app.last.headers['x-auth-name']).toBe('Ada Lovelace');
  });
});
