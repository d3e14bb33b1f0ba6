// The per-request decision: is this request's token valid, fresh, and unused?
// Order: find the token, parse, registered claims (the Go order and reasons), key,
// signature, claims verifiers, and only then the single-use jti — so a forged token never
// burns a nonce. Tokens that may be reused until exp are verified once and then served
// from the verified-token cache. A certificate-bound token (RFC 8705) is checked against the
// request's client certificate on every use, cached or not.
import { ClaimsVerifierError, ClaimsVerifierUnavailableError, type ClaimsDecision, type ClaimsVerifier, type PolicyInput, type RequestFacts } from '../claims/ClaimsVerifier';
import { verifySignatureAsync, type VerificationAlgorithm } from '../jwt/algorithms';
import { PROBLEMS, REASONS, registeredClaimsProblem, type ClaimRules, type TokenCheckCode } from '../jwt/registeredClaims';
import { parseToken, type Claims, type ParsedToken } from '../jwt/token';
import { KeyExpiredError, KeyNotFoundError, KeyServerUnavailableError, KeysUnavailableError, type KeyServer, type VerificationKey } from '../keys/KeyServer';
import { NonceStoreUnavailableError, type NonceStore } from '../nonce/NonceStore';
import type { Clock } from '../util/clock';
import type { CertificateFacts } from '../x509/CertificateFacts';
import { IDENTITY_UNAVAILABLE, IdentityUnavailableError, type Identity, type IdentityExpander } from './IdentityExpander';
import type { FoundToken, TokenSource } from './tokenSources';
import type { VerifiedTokenCache } from './VerifiedTokenCache';

/**
 * Why a request is refused, stable for metrics and callers: no token at all, a token that is
 * not valid here, a valid token the claims verifiers refuse, or a dependency that is down.
 */
export type RefusalCode = 'missing_token' | 'invalid_token' | 'claims_refused' | 'unavailable';

/**
 * Which check refused, stable for metrics and logs: a token check (exp, aud, signature,
 * key_not_found…), no token at all, a wrong AWS ALB signer, an algorithm the key or the
 * config does not allow, a replayed jti, a claims verifier or identity header mapping that
 * refused, a token bound to another client certificate, or the keys, the key server, the
 * identity endpoint, an authorizer or the nonce store being unavailable.
 */
export type ReasonCode =
  | TokenCheckCode
  | 'missing'
  | 'ambiguous_token'
  | 'forged_header'
  | 'signer'
  | 'algorithm'
  | 'replayed'
  | 'claims_verifier'
  | 'header_mapping'
  | 'certificate_binding'
  | 'keys_unavailable'
  | 'key_server_unavailable'
  | 'identity_unavailable'
  | 'authorizer_unavailable'
  | 'nonce_store_unavailable';

export type Verdict =
  /**
   * `identity`: the expanded identity, when the verifier expands identities. `headers`: set
   * upstream by the claims verifiers' decisions (an authorizer's), checked like claims_to_headers ones.
   */
  | { ok: true; claims: Claims; identity?: Identity; headers?: [string, string][] }
  /** `reason` is for the client; `cause` for the operator's log. */
  | { ok: false; status: 400 | 403 | 503; code: RefusalCode; reasonCode: ReasonCode; reason: string; cause?: Error };

/** What a verifier accepts, compiled from its config. */
export interface TokenRules {
  claims: ClaimRules;
  tokenSources: readonly TokenSource[];
  /** When set, the token's alg must be one of these (and always the key's own). */
  algorithms?: ReadonlySet<VerificationAlgorithm>;
  /** AWS ALB: the JOSE header's `signer` must be this load balancer's ARN. */
  expectedSigner?: string;
  /** AWS ALB pads its base64url segments with "=". */
  paddedSegments?: boolean;
  /** Longer tokens are refused unparsed; MAX_TOKEN_LENGTH by default. */
  maxTokenLength?: number;
}

export interface AuthenticatorDeps {
  rules: TokenRules;
  keyServer: KeyServer;
  /** Absent when tokens may be reused until exp (rules.claims.requireJti false). */
  nonceStore?: NonceStore;
  claimsVerifiers: ClaimsVerifier[];
  clock: Clock;
  tokenCache?: VerifiedTokenCache;
  /** Identity expansion: asked for every accepted token, cached ones too, before the claims verifiers. */
  identityExpander?: IdentityExpander;
}

/** The request as the Authenticator sees it. */
export interface AuthenticationRequest extends RequestFacts {
  /** The token and the carrier it came in (tokenSources.findToken). */
  token: FoundToken;
  /** Forward-auth with the audience in the path: the one audience this request's token must carry. */
  audience?: string;
  /** The client certificate verified for this request (mTLS, or a trusted gateway's header). */
  clientCertificate?: CertificateFacts;
  /** The client's address (behind trusted proxies), when the request came over the network. */
  client?: string;
}

export const NONCE_STORE_UNAVAILABLE = 'Nonce storage unavailable';
export const SIGNER_MISMATCH = "Invalid 'signer' header";
export const BOUND_TO_OTHER_CERTIFICATE = 'Token is bound to another client certificate';
export const BOUND_WITHOUT_CERTIFICATE = 'Token is bound to a client certificate and none was presented';
export const INVALID_CNF = "Invalid 'cnf' claim";
export const AUTHORIZER_UNAVAILABLE = 'Authorizer unavailable';
export const AMBIGUOUS_TOKEN = 'More than one token in the request';

type Problem = { readonly code: ReasonCode; readonly reason: string };

const MISSING: Problem = { code: 'missing', reason: REASONS.parse };
/** RFC 6750 §2: one method per request; two different tokens leave no way to say whose request it is. */
const AMBIGUOUS: Verdict = { ok: false, status: 400, code: 'invalid_token', reasonCode: 'ambiguous_token', reason: AMBIGUOUS_TOKEN };
const WRONG_SIGNER: Problem = { code: 'signer', reason: SIGNER_MISMATCH };
/** Told as a bad signature, as Go does; counted apart: an alg the key does not have is an attack or a misconfiguration. */
const DISALLOWED_ALGORITHM: Problem = { code: 'algorithm', reason: REASONS.signature };
const REPLAYED: Problem = { code: 'replayed', reason: REASONS.jti };

const refuse = (problem: Problem, cause?: Error, code: RefusalCode = 'invalid_token'): Verdict => ({
  ok: false,
  status: 403,
  code,
  reasonCode: problem.code,
  reason: problem.reason,
  cause,
});
const unavailable = (reasonCode: ReasonCode, reason: string, cause: Error): Verdict => ({ ok: false, status: 503, code: 'unavailable', reasonCode, reason, cause });

export class Authenticator {
  constructor(private readonly deps: AuthenticatorDeps) {}

  async authenticate(request: AuthenticationRequest): Promise<Verdict> {
    const { rules, tokenCache, clock } = this.deps;
    const found = request.token;
    if (!found.present) return refuse(MISSING, undefined, 'missing_token');
    if (found.ambiguous) return AMBIGUOUS;
    const text = found.token;
    if (text === undefined) return refuse(PROBLEMS.parse);
    const claimRules = request.audience === undefined ? rules.claims : { ...rules.claims, audience: undefined, audiences: new Set([request.audience]) };

    const cached = tokenCache?.get(text, clock());
    if (cached) {
      const problem = registeredClaimsProblem(cached.claims, claimRules, clock());
      if (problem) return refuse(problem);
      if ((await this.currentKey(cached.claims.iss as string, cached.keyId)) === cached.key) return this.decide(text, cached.claims, request);
    }

    const token = parseToken(text, { allowPadding: rules.paddedSegments, maxLength: rules.maxTokenLength });
    if (!token) return refuse(PROBLEMS.parse);
    const { header, claims } = token;
    // OpenID Connect Core §10.1: without `kid`, the set's only key for the token's alg signs.
    const onlyKey = header.kid === undefined && this.deps.keyServer.getOnlyKey !== undefined;
    if (typeof header.kid !== 'string' && !onlyKey) return refuse(PROBLEMS.kid);
    if (rules.expectedSigner !== undefined && header.signer !== rules.expectedSigner) return refuse(WRONG_SIGNER);
    const claimsProblem = registeredClaimsProblem(claims, claimRules, clock());
    if (claimsProblem) return refuse(claimsProblem);

    let verificationKey: VerificationKey;
    let keyId = header.kid as string;
    try {
      if (onlyKey) ({ keyId, key: verificationKey } = await this.deps.keyServer.getOnlyKey!(claims.iss as string, String(header.alg)));
      else verificationKey = await this.deps.keyServer.getPublicKey(claims.iss as string, keyId, request.client);
    } catch (error) {
      return keyRefusal(error as Error);
    }
    const signatureProblem = await this.signatureProblem(token, verificationKey);
    if (signatureProblem) return refuse(signatureProblem);

    if (tokenCache) tokenCache.set(text, { claims, keyId, key: verificationKey }, this.cacheUntil(claims));
    return this.decide(text, claims, request);
  }

  /** The key server's key for a cached token now, or undefined when it no longer has one. */
  private async currentKey(issuer: string, keyId: string): Promise<VerificationKey | undefined> {
    try {
      return await this.deps.keyServer.getPublicKey(issuer, keyId);
    } catch {
      // Verified again from scratch below, which reports why.
      return undefined;
    }
  }

  /** The key decides the algorithm: "none", HMAC or any other alg is refused. */
  private async signatureProblem(token: ParsedToken, key: VerificationKey): Promise<Problem | undefined> {
    const { alg } = token.header;
    if (alg !== key.algorithm) return DISALLOWED_ALGORITHM;
    if (this.deps.rules.algorithms && !this.deps.rules.algorithms.has(key.algorithm)) return DISALLOWED_ALGORITHM;
    return (await verifySignatureAsync(key.algorithm, key.key, token.signingInput, token.signature)) ? undefined : PROBLEMS.signature;
  }

  private cacheUntil(claims: Claims): number {
    const skew = this.deps.rules.claims.times === 'tolerant' ? this.deps.rules.claims.maxSkewMs : 0;
    return (claims.exp as number) * 1000 + skew;
  }

  /** The certificate binding, the identity, claims verifiers, then the single-use jti for verifiers that want one. */
  private async decide(text: string, claims: Claims, request: AuthenticationRequest): Promise<Verdict> {
    const unbound = certificateBindingProblem(claims, request.clientCertificate);
    if (unbound) return refuse({ code: 'certificate_binding', reason: unbound });
    let identity: Identity | undefined;
    if (this.deps.identityExpander) {
      try {
        identity = await this.deps.identityExpander.expand(text, claims);
      } catch (error) {
        if (error instanceof IdentityUnavailableError) return unavailable('identity_unavailable', IDENTITY_UNAVAILABLE, error);
        throw error;
      }
    }
    let headers: [string, string][] | undefined;
    if (this.deps.claimsVerifiers.length > 0) {
      const input: PolicyInput = { claims, request, identity, client_certificate: request.clientCertificate };
      for (const verifier of this.deps.claimsVerifiers) {
        let problem: ClaimsDecision;
        try {
          problem = await verifier.verify(input);
        } catch (error) {
          return undecided(error as Error);
        }
        if (problem && typeof problem === 'object') (headers ??= []).push(...problem.headers);
        else if (problem) return refuse({ code: 'claims_verifier', reason: `Error verifying claims: ${problem}` }, undefined, 'claims_refused');
      }
    }
    const { nonceStore } = this.deps;
    if (!nonceStore) return { ok: true, claims, identity, headers };
    try {
      const fresh = await nonceStore.claim(claims.jti as string, (claims.exp as number) * 1000);
      return fresh ? { ok: true, claims, identity, headers } : refuse(REPLAYED);
    } catch (error) {
      if (error instanceof NonceStoreUnavailableError) return unavailable('nonce_store_unavailable', NONCE_STORE_UNAVAILABLE, error);
      throw error;
    }
  }
}

/** RFC 8705 §3: a token with cnf["x5t#S256"] is good only with the client certificate of that thumbprint. */
function certificateBindingProblem(claims: Claims, certificate: CertificateFacts | undefined): string | undefined {
  const { cnf } = claims;
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return INVALID_CNF;
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  // Other confirmation methods (jkt for DPoP…) are not checked here.
  if (thumbprint === undefined) return undefined;
  if (typeof thumbprint !== 'string') return INVALID_CNF;
  if (!certificate) return BOUND_WITHOUT_CERTIFICATE;
  return thumbprint === certificate.x5t_s256 ? undefined : BOUND_TO_OTHER_CERTIFICATE;
}

/** A claims verifier that could not decide: refused (a failed script) or 503 (an authorizer that is down); anything else is a bug. */
function undecided(error: Error): Verdict {
  if (error instanceof ClaimsVerifierUnavailableError) return unavailable('authorizer_unavailable', AUTHORIZER_UNAVAILABLE, error);
  if (error instanceof ClaimsVerifierError) return refuse({ code: 'claims_verifier', reason: `Error verifying claims: ${error.refusal}` }, error, 'claims_refused');
  throw error;
}

function keyRefusal(error: Error): Verdict {
  if (error instanceof KeyNotFoundError) return refuse(PROBLEMS.keyNotFound, error);
  if (error instanceof KeyExpiredError) return refuse(PROBLEMS.keyExpired, error);
  if (error instanceof KeysUnavailableError) return unavailable('keys_unavailable', KEYS_UNAVAILABLE, error);
  // An outage, not a verdict on the token: 503 so the caller retries, with the Go text.
  if (error instanceof KeyServerUnavailableError) return unavailable('key_server_unavailable', REASONS.keyServer, error);
  return refuse(PROBLEMS.keyServer, error);
}

export const KEYS_UNAVAILABLE = 'Signing keys not available yet';
