// The Authenticator's decisions on their own, without HTTP: a key server, nonce store, claims
// verifiers and identity expander standing in, and a clock the test sets. Each test is one
// decision: the verdict's status, refusal code and reason.
import * as crypto from 'node:crypto';
import { ClaimsVerifierError, ClaimsVerifierUnavailableError, type ClaimsVerifier } from '../../src/claims/ClaimsVerifier';
import { signToken, type Claims } from '../../src/jwt/token';
import { KeyNotFoundError, KeyServerUnavailableError, type KeyServer, type VerificationKey } from '../../src/keys/KeyServer';
import { NonceStoreUnavailableError, type NonceStore } from '../../src/nonce/NonceStore';
import { Authenticator, type AuthenticationRequest, type AuthenticatorDeps, type TokenRules } from '../../src/verifier/Authenticator';
import { IdentityUnavailableError } from '../../src/verifier/IdentityExpander';
import { VerifiedTokenCache } from '../../src/verifier/VerifiedTokenCache';
import type { CertificateFacts } from '../../src/x509/CertificateFacts';

const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;
const AUDIENCE = 'https://api.example.com';
const signingKey = crypto.generateKeyPairSync('ed25519').privateKey;
const KEY: VerificationKey = { key: crypto.createPublicKey(signingKey), algorithm: 'EdDSA' };

/** A key server holding one key, `mykey` of `jwtproxy`, or failing with `failure`. */
class StandInKeyServer implements KeyServer {
  key: VerificationKey = KEY;
  failure?: Error;
  lookups = 0;
  async getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    this.lookups++;
    if (this.failure) throw this.failure;
    if (issuer !== 'jwtproxy' || keyId !== 'mykey') throw new KeyNotFoundError(issuer, keyId);
    return this.key;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** A nonce store in a Set, or failing with `failure`. */
class StandInNonceStore implements NonceStore {
  readonly claimed = new Set<string>();
  failure?: Error;
  async claim(jti: string): Promise<boolean> {
    if (this.failure) throw this.failure;
    if (this.claimed.has(jti)) return false;
    this.claimed.add(jti);
    return true;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

const RULES: TokenRules = { claims: { audience: AUDIENCE, maxSkewMs: 60_000, maxTtlMs: 300_000 }, tokenSources: [{ type: 'authorization' }] };

let now: number;
let keyServer: StandInKeyServer;
let nonceStore: StandInNonceStore;

beforeEach(() => {
  now = NOW_MS;
  keyServer = new StandInKeyServer();
  nonceStore = new StandInNonceStore();
});

function authenticator(deps: Partial<AuthenticatorDeps> = {}): Authenticator {
  return new Authenticator({ rules: RULES, keyServer, nonceStore, claimsVerifiers: [], clock: () => now, ...deps });
}

/** A token as the signer makes it, valid at NOW, with `claims` over the defaults. */
function token(claims: Claims = {}, keyId = 'mykey'): Promise<string> {
  return signToken('EdDSA', signingKey, keyId, { aud: AUDIENCE, exp: NOW + 300, iat: NOW, iss: 'jwtproxy', jti: crypto.randomUUID(), nbf: NOW - 60, ...claims });
}

function request(text: string | undefined, extra: Partial<AuthenticationRequest> = {}): AuthenticationRequest {
  return { method: 'GET', path: '/', host: 'api.example.com', headers: {}, token: text === undefined ? { present: false } : { present: true, token: text }, ...extra };
}

/** The parts of a refusal a caller acts on. */
async function refusal(auth: Authenticator, req: AuthenticationRequest) {
  const verdict = await auth.authenticate(req);
  if (verdict.ok) throw new Error('the request was accepted');
  return { status: verdict.status, code: verdict.code, reasonCode: verdict.reasonCode, reason: verdict.reason };
}

describe('the token', () => {
  test('a valid token is accepted with its claims', async () => {
    const verdict = await authenticator().authenticate(request(await token({ sub: 'svc' })));
    expect(verdict).toMatchObject({ ok: true, claims: { sub: 'svc', aud: AUDIENCE } });
  });

  test('no token: 403 missing_token', async () => {
    expect(await refusal(authenticator(), request(undefined))).toEqual({ status: 403, code: 'missing_token', reasonCode: 'missing', reason: 'Could not parse JWT' });
  });

  test('two different tokens: 400, no way to say whose request it is', async () => {
    expect(await refusal(authenticator(), request(undefined, { token: { present: true, ambiguous: true } }))).toEqual({
      status: 400,
      code: 'invalid_token',
      reasonCode: 'ambiguous_token',
      reason: 'More than one token in the request',
    });
  });

  test('a token that does not parse: malformed', async () => {
    expect(await refusal(authenticator(), request('not.a.token'))).toMatchObject({ status: 403, reasonCode: 'malformed', reason: 'Could not parse JWT' });
  });

  test('expired by the injected clock: exp, and the key is never asked', async () => {
    const text = await token();
    now = NOW_MS + 301_000;
    expect(await refusal(authenticator(), request(text))).toMatchObject({ status: 403, reasonCode: 'exp', reason: "Missing or invalid 'exp' claim" });
    expect(keyServer.lookups).toBe(0);
  });

  test('another audience: aud', async () => {
    expect(await refusal(authenticator(), request(await token({ aud: 'https://other.example.com' })))).toMatchObject({ reasonCode: 'aud' });
  });

  test('the forward-auth audience from the path replaces the configured one', async () => {
    const text = await token({ aud: 'app-tag' });
    expect(await authenticator().authenticate(request(text, { audience: 'app-tag' }))).toMatchObject({ ok: true });
    expect(await refusal(authenticator(), request(text, { audience: 'other-tag' }))).toMatchObject({ reasonCode: 'aud' });
  });

  test('an unknown kid: key_not_found', async () => {
    expect(await refusal(authenticator(), request(await token({}, 'otherkey')))).toMatchObject({ status: 403, reasonCode: 'key_not_found', reason: 'Could not find any matching public key' });
  });

  test('a signature by another key: signature', async () => {
    keyServer.key = { key: crypto.createPublicKey(crypto.generateKeyPairSync('ed25519').privateKey), algorithm: 'EdDSA' };
    expect(await refusal(authenticator(), request(await token()))).toMatchObject({ status: 403, reasonCode: 'signature', reason: 'Invalid JWT signature' });
  });

  test("an alg that is not the key's: algorithm, told as a bad signature", async () => {
    keyServer.key = { ...KEY, algorithm: 'ES256' };
    expect(await refusal(authenticator(), request(await token()))).toMatchObject({ reasonCode: 'algorithm', reason: 'Invalid JWT signature' });
  });

  test('the AWS ALB signer header must name the load balancer', async () => {
    expect(await refusal(authenticator({ rules: { ...RULES, expectedSigner: 'arn:aws:elasticloadbalancing:lb' } }), request(await token()))).toMatchObject({ reasonCode: 'signer' });
  });
});

describe('outages are 503, not verdicts on the token', () => {
  test('the key server down: key_server_unavailable', async () => {
    keyServer.failure = new KeyServerUnavailableError('registry down');
    expect(await refusal(authenticator(), request(await token()))).toEqual({ status: 503, code: 'unavailable', reasonCode: 'key_server_unavailable', reason: 'Unexpected key server error' });
  });

  test('the nonce store down: nonce_store_unavailable', async () => {
    nonceStore.failure = new NonceStoreUnavailableError('redis down');
    expect(await refusal(authenticator(), request(await token()))).toEqual({ status: 503, code: 'unavailable', reasonCode: 'nonce_store_unavailable', reason: 'Nonce storage unavailable' });
  });

  test('the identity endpoint down: identity_unavailable', async () => {
    const identityExpander = { expand: async () => Promise.reject(new IdentityUnavailableError('get-identity down')) };
    expect(await refusal(authenticator({ identityExpander }), request(await token()))).toMatchObject({ status: 503, reasonCode: 'identity_unavailable' });
  });

  test('an authorizer down: authorizer_unavailable', async () => {
    const down: ClaimsVerifier = {
      verify: () => {
        throw new ClaimsVerifierUnavailableError('authorizer down');
      },
    };
    expect(await refusal(authenticator({ claimsVerifiers: [down] }), request(await token()))).toEqual({
      status: 503,
      code: 'unavailable',
      reasonCode: 'authorizer_unavailable',
      reason: 'Authorizer unavailable',
    });
  });
});

describe('single use', () => {
  test('a jti is accepted once: the copy is replayed', async () => {
    const text = await token();
    const auth = authenticator();
    expect(await auth.authenticate(request(text))).toMatchObject({ ok: true });
    expect(await refusal(auth, request(text))).toMatchObject({ status: 403, reasonCode: 'replayed', reason: "Missing or invalid 'jti' claim" });
  });

  test('a forged token never burns the jti of a real one', async () => {
    const jti = 'shared-id';
    const forged = await signToken('EdDSA', crypto.generateKeyPairSync('ed25519').privateKey, 'mykey', { aud: AUDIENCE, exp: NOW + 300, iat: NOW, iss: 'jwtproxy', jti, nbf: NOW - 60 });
    const auth = authenticator();
    expect(await refusal(auth, request(forged))).toMatchObject({ reasonCode: 'signature' });
    expect(await auth.authenticate(request(await token({ jti })))).toMatchObject({ ok: true });
  });

  test('a token the claims verifiers refuse leaves its jti unused', async () => {
    let allow = false;
    const gate: ClaimsVerifier = { verify: () => (allow ? undefined : 'closed') };
    const text = await token();
    const auth = authenticator({ claimsVerifiers: [gate] });
    expect(await refusal(auth, request(text))).toMatchObject({ reasonCode: 'claims_verifier' });
    allow = true;
    expect(await auth.authenticate(request(text))).toMatchObject({ ok: true });
  });
});

describe('claims verifiers', () => {
  test('a refusal gives 403 claims_refused with the message', async () => {
    const staffOnly: ClaimsVerifier = { verify: ({ claims }) => (claims.role === 'staff' ? undefined : 'staff only') };
    expect(await refusal(authenticator({ claimsVerifiers: [staffOnly] }), request(await token({ role: 'guest' })))).toEqual({
      status: 403,
      code: 'claims_refused',
      reasonCode: 'claims_verifier',
      reason: 'Error verifying claims: staff only',
    });
  });

  test('a verifier that fails is a refusal with its own text', async () => {
    const broken: ClaimsVerifier = {
      verify: () => {
        throw new ClaimsVerifierError('the Lua rule failed', 'policy.lua:3: boom');
      },
    };
    expect(await refusal(authenticator({ claimsVerifiers: [broken] }), request(await token()))).toMatchObject({
      status: 403,
      reasonCode: 'claims_verifier',
      reason: 'Error verifying claims: the Lua rule failed',
    });
  });

  test("they see the request and the identity; an allowance's headers go with the verdict", async () => {
    const seen: unknown[] = [];
    const authorizer: ClaimsVerifier = {
      verify: (input) => {
        seen.push(input);
        return { headers: [['x-role', 'admin']] };
      },
    };
    const identityExpander = { expand: async () => ({ email: 'a@example.com' }) };
    const verdict = await authenticator({ claimsVerifiers: [authorizer], identityExpander }).authenticate(request(await token(), { method: 'POST', path: '/deploy' }));
    expect(verdict).toMatchObject({ ok: true, identity: { email: 'a@example.com' }, headers: [['x-role', 'admin']] });
    expect(seen).toEqual([expect.objectContaining({ request: expect.objectContaining({ method: 'POST', path: '/deploy' }), identity: { email: 'a@example.com' } })]);
  });
});

describe('certificate-bound tokens (RFC 8705)', () => {
  const certificate = { x5t_s256: 'thumbprint-a' } as CertificateFacts;

  test('accepted with the client certificate of the thumbprint', async () => {
    expect(await authenticator().authenticate(request(await token({ cnf: { 'x5t#S256': 'thumbprint-a' } }), { clientCertificate: certificate }))).toMatchObject({ ok: true });
  });

  test('refused with another certificate, without one, or with a cnf that is not an object', async () => {
    const auth = authenticator();
    expect(await refusal(auth, request(await token({ cnf: { 'x5t#S256': 'thumbprint-b' } }), { clientCertificate: certificate }))).toMatchObject({
      reasonCode: 'certificate_binding',
      reason: 'Token is bound to another client certificate',
    });
    expect(await refusal(auth, request(await token({ cnf: { 'x5t#S256': 'thumbprint-a' } })))).toMatchObject({ reason: 'Token is bound to a client certificate and none was presented' });
    expect(await refusal(auth, request(await token({ cnf: 'x' }), { clientCertificate: certificate }))).toMatchObject({ reason: "Invalid 'cnf' claim" });
  });
});

describe('the verified-token cache (tokens reusable until exp)', () => {
  const REUSABLE: TokenRules = { ...RULES, claims: { ...RULES.claims, requireJti: false } };

  function reusing(tokenCache: VerifiedTokenCache): Authenticator {
    return authenticator({ rules: REUSABLE, nonceStore: undefined, tokenCache });
  }

  test('a reused token is accepted again, its claims checked against the clock each time', async () => {
    const text = await token({ jti: undefined });
    const auth = reusing(new VerifiedTokenCache(10));
    expect(await auth.authenticate(request(text))).toMatchObject({ ok: true });
    expect(await auth.authenticate(request(text))).toMatchObject({ ok: true });
    now = NOW_MS + 301_000;
    expect(await refusal(auth, request(text))).toMatchObject({ reasonCode: 'exp' });
  });

  test('a cached token whose key left the set is verified from scratch, and refused', async () => {
    const text = await token({ jti: undefined });
    const auth = reusing(new VerifiedTokenCache(10));
    expect(await auth.authenticate(request(text))).toMatchObject({ ok: true });
    keyServer.failure = new KeyNotFoundError('jwtproxy', 'mykey');
    expect(await refusal(auth, request(text))).toMatchObject({ reasonCode: 'key_not_found' });
  });
});
