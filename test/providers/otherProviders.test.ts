// Verifiers behind Google Cloud IAP, AWS ALB, Pomerium and a generic OpenID Connect
// provider (provider: google_iap | aws_alb | pomerium | oidc), each against a local
// stand-in serving that provider's exact key format, with tokens in its exact shape signed
// with node:crypto. The clock is injected: tokens are minted at `now`.
import * as crypto from 'node:crypto';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { bearer, httpRequest } from '../support/httpRequest';
import { publicJwk, seconds, signJws } from '../support/jws';
import { dedent, startVerifierFromYaml, stopAfterEach } from '../support/providerVerifier';
import { StandInServer } from '../support/standInServer';
import { TestUpstream } from '../support/testUpstream';

const REFUSED = 'jwtproxy: unable to verify request: ';
const ec = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

let now = Date.now();
const clock = () => now;

const track = stopAfterEach();
const app = new TestUpstream();
let appUrl = '';
beforeAll(async () => {
  appUrl = await app.listen();
});
afterAll(() => app.close());
beforeEach(() => {
  now = Date.now();
  app.received.length = 0;
});

/** A stand-in for the provider, listening for the whole describe block. */
function standIn(): StandInServer {
  const server = new StandInServer();
  beforeAll(() => server.listen());
  afterAll(() => server.close());
  beforeEach(() => (server.requests.length = 0));
  return server;
}

async function verifier(yaml: string): Promise<VerifierProxy> {
  return track(await startVerifierFromYaml(`upstream: ${appUrl}\n${dedent(yaml)}`, clock));
}

/** Sends `token` in `header` `times` times; the statuses. */
async function statuses(proxy: VerifierProxy, headers: Record<string, string>, times: number): Promise<number[]> {
  const answers: number[] = [];
  for (let i = 0; i < times; i++) {
    answers.push((await httpRequest(`${proxy.url}/`, { headers })).status);
    now += 10_000;
  }
  return answers;
}

describe('Google Cloud IAP', () => {
  const JWKS_PATH = '/iap/verify/public_key-jwk';
  const AUDIENCE = '/projects/123/global/backendServices/456';
  const google = standIn();
  const keys = [
    { kid: 'f9R3yg', pair: ec() },
    { kid: '0oeLcQ', pair: ec() },
  ];

  beforeEach(() => {
    // Google's shape: alg, crv, kid, kty, use, x, y.
    google.serve(JWKS_PATH, {
      headers: { 'cache-control': 'public, max-age=3600' },
      body: {
        keys: keys.map(({ kid, pair }) => {
          const { crv, x, y } = pair.publicKey.export({ format: 'jwk' });
          return { alg: 'ES256', crv, kid, kty: 'EC', use: 'sig', x, y };
        }),
      },
    });
  });

  const iapVerifier = () =>
    verifier(`
      provider:
        type: google_iap
        options:
          audience: ${AUDIENCE}
          jwks_url: ${google.url}${JWKS_PATH}
      claims_to_headers:
        X-Auth-Email: claims.email`);

  /** An IAP assertion: about ten minutes long, no nbf, no jti. */
  function iapToken(claims: Record<string, unknown> = {}, key: { kid: string; pair: crypto.KeyPairKeyObjectResult } = keys[0]): { 'x-goog-iap-jwt-assertion': string } {
    const iat = seconds(now);
    const token = signJws(
      { alg: 'ES256', kid: key.kid, typ: 'JWT' },
      { aud: AUDIENCE, email: 'ada@example.com', exp: iat + 600, hd: 'example.com', iat, iss: 'https://cloud.google.com/iap', sub: 'accounts.google.com:113742982571438251904', ...claims },
      key.pair.privateKey,
    );
    return { 'x-goog-iap-jwt-assertion': token };
  }

  test('an assertion in x-goog-iap-jwt-assertion is let through, its email in X-Auth-Email', async () => {
    const proxy = await iapVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: iapToken() })).toMatchObject({ status: 200, body: 'ok' });
    expect(app.last.headers['x-auth-email']).toBe('ada@example.com');
  });

  test('an assertion signed with the second published key is let through', async () => {
    const proxy = await iapVerifier();
    expect((await httpRequest(`${proxy.url}/`, { headers: iapToken({}, keys[1]) })).status).toBe(200);
  });

  test('one assertion is accepted on every request until it expires, the JWKS fetched once', async () => {
    const proxy = await iapVerifier();
    expect(await statuses(proxy, iapToken(), 20)).toEqual(new Array(20).fill(200));
    expect(google.count(JWKS_PATH)).toBe(1);
  });

  test("an assertion for another backend service is refused: Missing or invalid 'aud' claim", async () => {
    const proxy = await iapVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: iapToken({ aud: '/projects/123/global/backendServices/789' }) })).toMatchObject({
      status: 403,
      body: `${REFUSED}Missing or invalid 'aud' claim`,
    });
  });

  test("an assertion from another issuer is refused: Missing or invalid 'iss' claim", async () => {
    const proxy = await iapVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: iapToken({ iss: 'https://accounts.google.com' }) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'iss' claim` });
  });

  test('an assertion signed by another key under a published kid is refused: Invalid JWT signature', async () => {
    const proxy = await iapVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: iapToken({}, { kid: keys[0].kid, pair: ec() }) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("an expired assertion is refused: Missing or invalid 'exp' claim", async () => {
    const proxy = await iapVerifier();
    const headers = iapToken();
    now += 600_000 + 61_000;
    expect(await httpRequest(`${proxy.url}/`, { headers })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
    expect(app.received).toHaveLength(0);
  });
});

// ALB tokens carry no aud: the load balancer is identified by the signer header instead.
describe('AWS Application Load Balancer', () => {
  const ALB_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188';
  const OTHER_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/other-alb/0123456789abcdef';
  const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example';
  const CLIENT = '5kq7bn0s8o1kd7mn0v3kf8d2xa';
  const publicKeys = standIn();
  const key = { kid: '8b1b9a5c-4f3e-4d2a-9c1b-7e6f5d4c3b2a', pair: ec() };

  beforeEach(() => {
    // One PEM public key per kid, at <keys_url><kid>.
    publicKeys.serve(`/${key.kid}`, { body: key.pair.publicKey.export({ type: 'spki', format: 'pem' }) as string });
  });

  const albVerifier = () =>
    verifier(`
      provider:
        type: aws_alb
        options:
          alb_arn: ${ALB_ARN}
          keys_url: ${publicKeys.url}/
          issuer: ${ISSUER}
      claims_to_headers:
        X-Auth-Email: claims.email`);

  /** x-amzn-oidc-data: ES256, a JOSE header naming the signer, base64url segments padded with "=". */
  function albToken(options: { claims?: Record<string, unknown>; header?: Record<string, unknown>; privateKey?: crypto.KeyObject } = {}): { 'x-amzn-oidc-data': string } {
    const exp = seconds(now) + 120;
    const token = signJws(
      { alg: 'ES256', kid: key.kid, signer: ALB_ARN, iss: ISSUER, client: CLIENT, exp, ...options.header },
      { sub: '1f3e5d7c-9b2a-4c6e-8d0f-a1b2c3d4e5f6', email_verified: 'true', email: 'ada@example.com', username: 'ada', exp, iss: ISSUER, ...options.claims },
      options.privateKey ?? key.pair.privateKey,
      { padded: true },
    );
    return { 'x-amzn-oidc-data': token };
  }

  test('the padded token in x-amzn-oidc-data is let through, its email in X-Auth-Email', async () => {
    const headers = albToken();
    expect(headers['x-amzn-oidc-data']).toMatch(/=\./); // the segments really are padded
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers })).toMatchObject({ status: 200, body: 'ok' });
    expect(app.last.headers['x-auth-email']).toBe('ada@example.com');
    expect(publicKeys.requests).toEqual([`/${key.kid}`]);
  });

  test('one token is accepted on every request until it expires, its key fetched once', async () => {
    const proxy = await albVerifier();
    expect(await statuses(proxy, albToken(), 10)).toEqual(new Array(10).fill(200));
    expect(publicKeys.requests).toEqual([`/${key.kid}`]);
  });

  test("a token signed by another load balancer (another signer ARN) is refused: Invalid 'signer' header", async () => {
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: albToken({ header: { signer: OTHER_ARN } }) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid 'signer' header` });
    expect(publicKeys.requests).toEqual([]);
  });

  test("a token from another issuer is refused: Missing or invalid 'iss' claim", async () => {
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: albToken({ claims: { iss: 'https://accounts.example.com' } }) })).toMatchObject({
      status: 403,
      body: `${REFUSED}Missing or invalid 'iss' claim`,
    });
  });

  test('a token signed by another key under the published kid is refused: Invalid JWT signature', async () => {
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: albToken({ privateKey: ec().privateKey }) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("an expired token is refused: Missing or invalid 'exp' claim", async () => {
    const proxy = await albVerifier();
    const headers = albToken();
    now += 120_000 + 61_000;
    expect(await httpRequest(`${proxy.url}/`, { headers })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
  });

  test('a kid the key endpoint does not know is refused: Could not find any matching public key', async () => {
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: albToken({ header: { kid: '00000000-0000-0000-0000-000000000000' } }) })).toMatchObject({
      status: 403,
      body: `${REFUSED}Could not find any matching public key`,
    });
  });

  test.each(['/aws-elb-public-keys-prod-us-gov-west-1', '/aws-elb-public-keys-prod-us-gov-west-1/'])(
    'a keys_url with a path (%s, as in GovCloud) is the directory each kid is looked up in',
    async (path) => {
      publicKeys.serve(`/aws-elb-public-keys-prod-us-gov-west-1/${key.kid}`, { body: key.pair.publicKey.export({ type: 'spki', format: 'pem' }) as string });
      const proxy = await verifier(`
      provider:
        type: aws_alb
        options:
          alb_arn: ${ALB_ARN}
          keys_url: ${publicKeys.url}${path}`);
      expect((await httpRequest(`${proxy.url}/`, { headers: albToken() })).status).toBe(200);
      expect(publicKeys.requests).toEqual([`/aws-elb-public-keys-prod-us-gov-west-1/${key.kid}`]);
    },
  );

  test.each(['../x', '..%2Fx', 'x/../../admin', '?x', 'a b', ''])('a kid with path characters (%j) is never fetched', async (kid) => {
    const proxy = await albVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: albToken({ header: { kid } }) })).toMatchObject({ status: 403, body: `${REFUSED}Could not find any matching public key` });
    expect(publicKeys.requests).toEqual([]);
  });
});

describe('Pomerium', () => {
  const JWKS_PATH = '/.well-known/pomerium/jwks.json';
  const ROUTE_HOST = 'app.example.com';
  const pomerium = standIn();
  const key = { kid: 'ccc1bc7b6a5d9e5f1a0c1a3b74d9a2c3d8c4e0c5b1f2a6d7e8f9a0b1c2d3e4f5', pair: ec() };

  beforeEach(() => {
    pomerium.serve(JWKS_PATH, { body: { keys: [publicJwk(key.pair.publicKey, { use: 'sig', kid: key.kid, alg: 'ES256' })] } });
  });

  const pomeriumVerifier = () =>
    verifier(`
      provider:
        type: pomerium
        options:
          route_host: ${ROUTE_HOST}
          jwks_url: ${pomerium.url}${JWKS_PATH}
      claims_to_headers:
        X-Auth-Email: claims.email
        X-Auth-Groups: claims.groups`);

  /** X-Pomerium-Jwt-Assertion: iss and aud the route's host. */
  function pomeriumToken(claims: Record<string, unknown> = {}, privateKey = key.pair.privateKey): { 'x-pomerium-jwt-assertion': string } {
    const iat = seconds(now);
    const token = signJws(
      { alg: 'ES256', kid: key.kid, typ: 'JWT' },
      { aud: ROUTE_HOST, email: 'ada@example.com', exp: iat + 300, groups: ['admins', 'staff'], iat, iss: ROUTE_HOST, jti: crypto.randomUUID(), sub: 'ada-id', user: 'ada-id', ...claims },
      privateKey,
    );
    return { 'x-pomerium-jwt-assertion': token };
  }

  test('an assertion in X-Pomerium-Jwt-Assertion is let through, its email and groups as headers', async () => {
    const proxy = await pomeriumVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: pomeriumToken() })).toMatchObject({ status: 200, body: 'ok' });
    expect(app.last.headers).toMatchObject({ 'x-auth-email': 'ada@example.com', 'x-auth-groups': 'admins,staff' });
  });

  test('one assertion (its jti included) is accepted on every request until it expires', async () => {
    const proxy = await pomeriumVerifier();
    expect(await statuses(proxy, pomeriumToken(), 10)).toEqual(new Array(10).fill(200));
    expect(pomerium.count(JWKS_PATH)).toBe(1);
  });

  test("an assertion for another route is refused: Missing or invalid 'aud' claim", async () => {
    const proxy = await pomeriumVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: pomeriumToken({ aud: 'other.example.com' }) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test("an assertion from another issuer is refused: Missing or invalid 'iss' claim", async () => {
    const proxy = await pomeriumVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: pomeriumToken({ iss: 'authenticate.example.com' }) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'iss' claim` });
  });

  test('an assertion signed by another key under the published kid is refused: Invalid JWT signature', async () => {
    const proxy = await pomeriumVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: pomeriumToken({}, ec().privateKey) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("an expired assertion is refused: Missing or invalid 'exp' claim", async () => {
    const proxy = await pomeriumVerifier();
    const headers = pomeriumToken();
    now += 300_000 + 61_000;
    expect(await httpRequest(`${proxy.url}/`, { headers })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
  });
});

describe('OpenID Connect provider with discovery', () => {
  const DISCOVERY_PATH = '/.well-known/openid-configuration';
  const JWKS_PATH = '/oauth2/v1/keys';
  const CLIENT_ID = '0oa1b2c3d4e5f6g7h8i9';
  const idp = standIn();
  const psKey = { kid: 'ps-2026', pair: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) };
  const rsKey = { kid: 'rs-2026', pair: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) };
  let issuer = '';

  beforeEach(() => {
    issuer = idp.url;
    idp.serve(DISCOVERY_PATH, {
      body: {
        issuer,
        authorization_endpoint: `${issuer}/oauth2/v1/authorize`,
        token_endpoint: `${issuer}/oauth2/v1/token`,
        jwks_uri: `${issuer}${JWKS_PATH}`,
        id_token_signing_alg_values_supported: ['PS256', 'RS256'],
      },
    });
    idp.serve(JWKS_PATH, {
      body: {
        keys: [publicJwk(psKey.pair.publicKey, { kty: 'RSA', alg: 'PS256', kid: psKey.kid, use: 'sig' }), publicJwk(rsKey.pair.publicKey, { kty: 'RSA', alg: 'RS256', kid: rsKey.kid, use: 'sig' })],
      },
    });
  });

  const oidcVerifier = () =>
    verifier(`
      provider:
        type: oidc
        options:
          issuer: ${issuer}
          audience: ${CLIENT_ID}`);

  function idToken(options: { claims?: Record<string, unknown>; alg?: 'PS256' | 'RS256'; key?: { kid: string; pair: crypto.KeyPairKeyObjectResult }; privateKey?: crypto.KeyObject } = {}): string {
    const iat = seconds(now);
    const key = options.key ?? psKey;
    return signJws(
      { alg: options.alg ?? 'PS256', kid: key.kid, typ: 'JWT' },
      { iss: issuer, sub: '00u1a2b3c4d5e6f7g8h9', aud: CLIENT_ID, exp: iat + 3600, iat, jti: `ID.${crypto.randomUUID()}`, email: 'ada@example.com', ...options.claims },
      options.privateKey ?? key.pair.privateKey,
    );
  }

  test('the JWKS is found through the discovery document, and a PS256 token (a JWK with alg PS256) is let through', async () => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken()) })).toMatchObject({ status: 200, body: 'ok' });
    expect(idp.requests).toEqual([DISCOVERY_PATH, JWKS_PATH]);
  });

  test('an RS256 token under an RS256 key of the same set is let through', async () => {
    const proxy = await oidcVerifier();
    expect((await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ alg: 'RS256', key: rsKey })) })).status).toBe(200);
  });

  test('one token is accepted on every request until it expires: its jti is not single-use', async () => {
    const proxy = await oidcVerifier();
    expect(await statuses(proxy, bearer(idToken()), 10)).toEqual(new Array(10).fill(200));
  });

  test('an RS256 token under the PS256 key is refused: the key decides the algorithm', async () => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ alg: 'RS256' })) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("a token for another client is refused: Missing or invalid 'aud' claim", async () => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ claims: { aud: 'another-client' } })) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'aud' claim` });
  });

  test("a token from another issuer is refused: Missing or invalid 'iss' claim", async () => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ claims: { iss: 'https://accounts.example.com' } })) })).toMatchObject({
      status: 403,
      body: `${REFUSED}Missing or invalid 'iss' claim`,
    });
  });

  test('a token signed by another key under a published kid is refused: Invalid JWT signature', async () => {
    const proxy = await oidcVerifier();
    const impostor = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ privateKey: impostor.privateKey })) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test("an expired token is refused: Missing or invalid 'exp' claim", async () => {
    const proxy = await oidcVerifier();
    const token = idToken();
    now += 3600_000 + 61_000;
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(token) })).toMatchObject({ status: 403, body: `${REFUSED}Missing or invalid 'exp' claim` });
  });

  /** A token whose JOSE header has no kid. */
  function kidlessToken(alg: 'PS256' | 'RS256', privateKey: crypto.KeyObject): string {
    const iat = seconds(now);
    return signJws({ alg, typ: 'JWT' }, { iss: issuer, sub: '00u1a2b3c4d5e6f7g8h9', aud: CLIENT_ID, exp: iat + 3600, iat }, privateKey);
  }

  test('a token without kid is let through when the set holds exactly one key for its alg (OIDC Core §10.1)', async () => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(kidlessToken('PS256', psKey.pair.privateKey)) })).toMatchObject({ status: 200, body: 'ok' });
    // Signed by another key: the only key does not verify it.
    const impostor = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(kidlessToken('PS256', impostor.privateKey)) })).toMatchObject({ status: 403, body: `${REFUSED}Invalid JWT signature` });
  });

  test('a token without kid is refused when the set holds several keys for its alg: which one is not said', async () => {
    const second = { kid: 'rs-2027', pair: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) };
    idp.serve(JWKS_PATH, {
      body: {
        keys: [publicJwk(rsKey.pair.publicKey, { kty: 'RSA', alg: 'RS256', kid: rsKey.kid, use: 'sig' }), publicJwk(second.pair.publicKey, { kty: 'RSA', alg: 'RS256', kid: second.kid, use: 'sig' })],
      },
    });
    const proxy = await oidcVerifier();
    expect((await httpRequest(`${proxy.url}/`, { headers: bearer(kidlessToken('RS256', rsKey.pair.privateKey)) })).status).toBe(403);
    expect((await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ alg: 'RS256', key: rsKey })) })).status).toBe(200);
  });

  test.each(['iat', 'sub'])('an ID token without %s is refused (OIDC Core §2: it is required)', async (claim) => {
    const proxy = await oidcVerifier();
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken({ claims: { [claim]: undefined } })) })).toMatchObject({ status: 403, body: `${REFUSED}Missing required claim '${claim}'` });
  });

  test('a discovery document naming another issuer is not trusted: the verifier stays unready and answers 503', async () => {
    idp.serve(DISCOVERY_PATH, { body: { issuer: 'https://evil.example.com', jwks_uri: `${issuer}${JWKS_PATH}` } });
    const proxy = await oidcVerifier();
    expect(proxy.ready()).toBe(false);
    expect(await httpRequest(`${proxy.url}/`, { headers: bearer(idToken()) })).toMatchObject({ status: 503, body: `${REFUSED}Signing keys not available yet` });
    expect(idp.count(JWKS_PATH)).toBe(0);
  });
});
