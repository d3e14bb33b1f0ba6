// A verifier behind Cloudflare Access (provider: cloudflare_access), against a local
// stand-in for the Access team: its /cdn-cgi/access/certs document in Cloudflare's exact
// shape (keys, public_cert, public_certs) and tokens in Access's exact shape, signed with
// node:crypto. The clock is injected: tokens are minted at `now`, and the tests advance it.
import * as crypto from 'node:crypto';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { accessClaims, accessKey, accessToken as signedAccessToken, audTag, CERTS_PATH, certsDocument, SERVICE_TOKEN_CLAIMS, TEAM_DOMAIN, type AccessSigner } from '../support/cloudflareAccess';
import { eventually } from '../support/eventually';
import { httpRequest } from '../support/httpRequest';
import { publicJwk, signJws } from '../support/jws';
import { dedent, startVerifierFromYaml, stopAfterEach } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';
import { TestUpstream } from '../support/testUpstream';

/** The AUD tag of the application behind the verifier, and of another one. */
const AUD_TAG = audTag();
const OTHER_AUD_TAG = audTag();
const REFUSED = 'jwtproxy: unable to verify request: ';

// Access publishes two keys, the current and the previous one.
const currentKey = accessKey();
const previousKey = accessKey();
const certificateOnlyKey = accessKey();
const rotatedKey = accessKey();
const ecKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

let now = Date.now();
const clock = () => now;

/** The claims of a token for AUD_TAG issued at `now`; a claim set to undefined is left out. */
const claimsNow = (claims: Record<string, unknown> = {}) => accessClaims(now, AUD_TAG, claims);
/** An Access token for AUD_TAG issued at `now`. */
const accessToken = (key: AccessSigner, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => signedAccessToken(key, claimsNow(claims), header);

const track = stopAfterEach();
const access = new StandInServer();
const app = new TestUpstream();
let appUrl = '';

beforeAll(async () => {
  await access.listen();
  appUrl = await app.listen();
});
afterAll(async () => {
  await access.close();
  await app.close();
});
beforeEach(() => {
  now = Date.now();
  access.up = true;
  access.requests.length = 0;
  app.received.length = 0;
  access.serve(CERTS_PATH, { body: certsDocument([currentKey, previousKey]) });
});

/** A verifier for the Access application AUD_TAG; `extra` is more YAML for its verifier mapping. */
async function verifier(extra = ''): Promise<VerifierProxy> {
  const yaml = dedent(`
    upstream: ${appUrl}
    provider:
      type: cloudflare_access
      options:
        team_domain: ${TEAM_DOMAIN}
        audience_tag: ${AUD_TAG}
        certs_url: ${access.url}${CERTS_PATH}
    claims_to_headers:
      X-Auth-Email: claims.email
      X-Auth-Groups: 'claims.custom["http://schemas/groups"]'`);
  return track(await startVerifierFromYaml(`${yaml}\n${dedent(extra)}`, clock));
}

const fromHeader = (token: string) => ({ headers: { 'cf-access-jwt-assertion': token } });
const get = (proxy: VerifierProxy, token: string) => httpRequest(`${proxy.url}/app/page`, fromHeader(token));

describe('accepted tokens', () => {
  test('a token in the Cf-Access-Jwt-Assertion header is let through to the application', async () => {
    const proxy = await verifier();
    const token = accessToken(currentKey);
    expect(await get(proxy, token)).toMatchObject({ status: 200, body: 'ok' });
    expect(app.last).toMatchObject({ url: '/app/page', headers: { 'cf-access-jwt-assertion': token } });
  });

  test('a token in the CF_Authorization cookie (a browser) is let through to the application', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { cookie: `theme=dark; CF_Authorization=${accessToken(currentKey)}; lang=en` } });
    expect(answer.status).toBe(200);
    expect(app.received).toHaveLength(1);
  });

  test('a token signed with the previous key, still published, is accepted', async () => {
    const proxy = await verifier();
    expect((await get(proxy, accessToken(previousKey))).status).toBe(200);
  });

  test('one token is accepted on every request until it expires: Access tokens carry no jti', async () => {
    const proxy = await verifier();
    const token = accessToken(currentKey);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      statuses.push((await get(proxy, token)).status);
      now += 60_000;
    }
    expect(statuses).toEqual(new Array(25).fill(200));
    expect(app.received).toHaveLength(25);
    expect(access.count(CERTS_PATH)).toBe(1);
  });

  test('a token signed with a key published only in public_certs (as a PEM certificate) is accepted', async () => {
    access.serve(CERTS_PATH, { body: certsDocument([currentKey, previousKey], { certificateOnly: [certificateOnlyKey] }) });
    const proxy = await verifier();
    expect((await get(proxy, accessToken(certificateOnlyKey))).status).toBe(200);
  });

  test('a certs document with only public_certs and no keys array (as seed 000 serves it) is a key set: the verifier becomes ready', async () => {
    const document = certsDocument([currentKey, previousKey]);
    access.serve(CERTS_PATH, { body: { public_certs: document.public_certs } });
    const proxy = await verifier();
    expect(proxy.ready()).toBe(true);
    expect((await get(proxy, accessToken(previousKey))).status).toBe(200);
  });
});

describe('key rotation', () => {
  test('a key added to the certs document later is used once the unknown-kid refetch interval (30 s) has passed', async () => {
    const proxy = await verifier();
    access.serve(CERTS_PATH, { body: certsDocument([rotatedKey, currentKey]) });
    const token = accessToken(rotatedKey);
    // The document was fetched at start: a kid it lacks is looked up again only 30 s later.
    expect(await get(proxy, token)).toMatchObject({ status: 403, body: `${REFUSED}Could not find any matching public key` });
    now += 30_000;
    expect((await get(proxy, token)).status).toBe(200);
    expect(access.count(CERTS_PATH)).toBe(2);
  });

  test("a token with a new kid that arrives after the document's max-age has run out is checked against the refetched document", async () => {
    access.serve(CERTS_PATH, { headers: { 'cache-control': 'public, max-age=60' }, body: certsDocument([currentKey, previousKey]) });
    const proxy = await verifier();
    access.serve(CERTS_PATH, { headers: { 'cache-control': 'public, max-age=60' }, body: certsDocument([rotatedKey, currentKey]) });
    now += 5 * 60_000;
    expect((await get(proxy, accessToken(rotatedKey))).status).toBe(200);
  });

  test('a flood of tokens with unknown kids refetches the document at most once per 30 s', async () => {
    const proxy = await verifier();
    now += 30_000;
    for (let i = 0; i < 20; i++) {
      const unknownKid = { kid: crypto.randomBytes(32).toString('hex'), privateKey: currentKey.pair.privateKey };
      expect(await get(proxy, accessToken(unknownKid))).toMatchObject({ status: 403, body: `${REFUSED}Could not find any matching public key` });
    }
    expect(access.count(CERTS_PATH)).toBe(2);
  });
});

describe('refused tokens (403, nothing reaches the application)', () => {
  afterEach(() => expect(app.received).toHaveLength(0));

  test("a token for another Access application (another AUD tag) is refused: Missing or invalid 'aud' claim", async () => {
    const proxy = await verifier();
    expect(await get(proxy, accessToken(currentKey, { aud: [OTHER_AUD_TAG] }))).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test("a token of another Access team (another iss) is refused: Missing or invalid 'iss' claim", async () => {
    const proxy = await verifier();
    expect(await get(proxy, accessToken(currentKey, { iss: 'https://other.cloudflareaccess.com' }))).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'iss' claim` });
  });

  test('an HS256 token keyed with the published public key (algorithm confusion) is refused', async () => {
    const proxy = await verifier();
    const secret = Buffer.from(currentKey.pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const forged = signJws({ alg: 'HS256', kid: currentKey.kid, typ: 'JWT' }, claimsNow(), secret);
    expect(await get(proxy, forged)).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test('an unsigned token (alg none) is refused', async () => {
    const proxy = await verifier();
    const unsigned = signJws({ alg: 'none', kid: currentKey.kid, typ: 'JWT' }, claimsNow(), undefined);
    expect(unsigned.endsWith('.')).toBe(true);
    expect(await get(proxy, unsigned)).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test('a token saying RS256 in its header but signed with a published EC key is refused', async () => {
    access.serve(CERTS_PATH, { body: certsDocument([currentKey], { extraJwks: [publicJwk(ecKey.publicKey, { kid: 'ec-key', use: 'sig' })] }) });
    const proxy = await verifier();
    const mismatched = signJws({ alg: 'RS256', kid: 'ec-key', typ: 'JWT' }, claimsNow(), ecKey.privateKey, { signWith: 'ES256' });
    expect(await get(proxy, mismatched)).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test('an ES256 token is refused even though its EC key is published: the preset accepts RS256 only', async () => {
    access.serve(CERTS_PATH, { body: certsDocument([currentKey], { extraJwks: [publicJwk(ecKey.publicKey, { kid: 'ec-key', use: 'sig' })] }) });
    const proxy = await verifier();
    const es256 = signJws({ alg: 'ES256', kid: 'ec-key', typ: 'JWT' }, claimsNow(), ecKey.privateKey);
    expect(await get(proxy, es256)).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test('a token signed by another key under a published kid is refused: Invalid JWT signature', async () => {
    const proxy = await verifier();
    const impostor = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(await get(proxy, accessToken({ kid: currentKey.kid, privateKey: impostor.privateKey }))).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("an expired token is refused: Missing or invalid 'exp' claim", async () => {
    const proxy = await verifier();
    const token = accessToken(currentKey);
    expect((await get(proxy, token)).status).toBe(200);
    app.received.length = 0;
    now += 24 * 3600_000 + 61_000; // past exp and the default 60 s of max_skew
    expect(await get(proxy, token)).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
  });

  test("a service token (common_name, no email) is refused where email is a required claim: Missing required claim 'email'", async () => {
    const proxy = await verifier('required_claims: [email]');
    expect(await get(proxy, accessToken(currentKey, SERVICE_TOKEN_CLAIMS))).toMatchObject({ status: 403, body: `${REFUSED}Missing required claim 'email'` });
  });

  test('an invalid token in the header next to a valid token in the cookie is refused (400): two tokens, two identities', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, {
      headers: { 'cf-access-jwt-assertion': accessToken(currentKey, { aud: [OTHER_AUD_TAG] }), cookie: `CF_Authorization=${accessToken(currentKey)}` },
    });
    expect(answer).toMatchObject({ status: 400, body: `${REFUSED}More than one token in the request` });
    expect(app.received).toHaveLength(0);
  });

  test('a garbled token in the header is refused even when a valid token comes in the cookie', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': 'not-a-jwt', cookie: `CF_Authorization=${accessToken(currentKey)}` } });
    expect(answer.status).toBe(400);
    expect(app.received).toHaveLength(0);
  });

  test('an empty header in front of a valid cookie is refused: the first carrier present decides', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': ' ', cookie: `CF_Authorization=${accessToken(currentKey)}` } });
    expect(answer).toMatchObject({ status: 403, body: `${REFUSED}Could not parse JWT` });
  });

  test('a request without any token is refused: Could not parse JWT', async () => {
    const proxy = await verifier();
    expect(await httpRequest(`${proxy.url}/`)).toMatchObject({ status: 403, body: `${REFUSED}Could not parse JWT` });
  });
});

describe('identity headers (claims_to_headers)', () => {
  test('the email and the groups reach the application as X-Auth-Email and X-Auth-Groups, a list joined by ","', async () => {
    const proxy = await verifier();
    expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
    expect(app.last.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-groups': 'engineering,on-call' });
  });

  test('an X-Auth-Email sent by the client is stripped: the application sees only the one from the token', async () => {
    const proxy = await verifier();
    await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': accessToken(currentKey), 'x-auth-email': 'admin@example.com' } });
    expect(app.last.headers['x-auth-email']).toBe('ada@example.com');
  });

  test('an X-Auth-Email sent by the client is stripped when the token has no email (a service token)', async () => {
    const proxy = await verifier();
    const answer = await httpRequest(`${proxy.url}/`, { headers: { 'cf-access-jwt-assertion': accessToken(currentKey, SERVICE_TOKEN_CLAIMS), 'x-auth-email': 'admin@example.com' } });
    expect(answer.status).toBe(200);
    expect(app.last.headers['x-auth-email']).toBeUndefined();
    expect(app.last.headers['x-auth-groups']).toBeUndefined();
  });

  test('a claim value holding CR/LF refuses the request (403), and nothing reaches the application', async () => {
    const proxy = await verifier();
    const answer = await get(proxy, accessToken(currentKey, { email: 'ada@example.com\r\nX-Admin: true' }));
    expect(answer.status).toBe(403);
    expect(answer.body).toMatch(/^jwtproxy: unable to verify request: Error mapping claims to headers: the value for (cf-access-authenticated-user-email|x-auth-email) contains CR, LF/);
    expect(app.received).toHaveLength(0);
  });
});

describe('availability of the certs document', () => {
  test('with Access unreachable at start the verifier is not ready and answers 503; it recovers by itself once Access answers', async () => {
    access.up = false;
    const proxy = await verifier();
    expect(proxy.ready()).toBe(false);
    const token = accessToken(currentKey);
    expect(await get(proxy, token)).toMatchObject({ status: 503, body: `${REFUSED}Signing keys not available yet` });
    expect(app.received).toHaveLength(0);

    access.up = true;
    await eventually(() => proxy.ready(), 'the verifier becomes ready', 10_000);
    expect((await get(proxy, token)).status).toBe(200);
  });

  test('a malformed key in the document is skipped, and the other keys still verify', async () => {
    const broken = { kid: 'broken', alg: 'RS256', use: 'sig', e: 'AQAB', n: 'this is not base64url!', kty: 'RSA' };
    access.serve(CERTS_PATH, { body: certsDocument([currentKey, previousKey], { extraJwks: [broken] }) });
    const proxy = await verifier();
    expect(proxy.ready()).toBe(true);
    expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
    expect((await get(proxy, accessToken(previousKey))).status).toBe(200);
    expect((await get(proxy, accessToken({ kid: 'broken', privateKey: currentKey.pair.privateKey }))).status).toBe(403);
  });

  test('a document sent with Cache-Control: no-cache is fetched again at most once per 30 s, however many requests arrive', async () => {
    access.serve(CERTS_PATH, { headers: { 'cache-control': 'no-cache' }, body: certsDocument([currentKey, previousKey]) });
    const proxy = await verifier();
    for (let i = 0; i < 30; i++) {
      expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
      now += 500;
    }
    expect(access.count(CERTS_PATH)).toBe(1);
    now += 30_000;
    expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
    await eventually(() => access.count(CERTS_PATH) === 2, 'the refetch 30 s later');
  });

  test('an HTML page served instead of the document keeps the last good key set in use', async () => {
    access.serve(CERTS_PATH, { headers: { 'cache-control': 'max-age=60' }, body: certsDocument([currentKey, previousKey]) });
    const proxy = await verifier();
    access.serve(CERTS_PATH, { headers: { 'content-type': 'text/html' }, body: '<!DOCTYPE html><html><body>Access is having trouble</body></html>' });
    now += 2 * 60_000; // past the document's max-age: the next request refreshes it in the background
    expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
    await eventually(() => access.count(CERTS_PATH) === 2, 'the refresh fetches the HTML page');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(proxy.ready()).toBe(true);
    expect((await get(proxy, accessToken(currentKey))).status).toBe(200);
    expect((await get(proxy, accessToken(previousKey))).status).toBe(200);
  });
});
