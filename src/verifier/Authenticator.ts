// The per-request decision: is this request's token valid, fresh, and unused?
// Order: find the token, parse, registered claims (the Go order and reasons), key,
// signature, claims verifiers, and only then the single-use jti — so a forged token never
// burns a nonce. Tokens that may be reused until exp are verified once and then served
// from the verified-token cache. A certificate-bound token (RFC 8705) is checked against the
// request's client certificate on every use, cached or not.
import { ClaimsVerifierError, ClaimsVerifierUnavailableError, type ClaimsDecision, type ClaimsVerifier, type PolicyInput, type RequestFacts } from '../claims/ClaimsVerifier';
import { verifySignatureAsync, type VerificationAlgorithm } from '../jwt/algorithms';
import { registeredClaimsProblem, type ClaimRules, type TokenProblem } from '../jwt/registeredClaims';
import { inspectToken, type Claims, type ParsedToken } from '../jwt/token';
import { KeyExpiredError, KeyNotFoundError, KeyServerUnavailableError, KeysUnavailableError, type KeyServer, type VerificationKey } from '../keys/KeyServer';
import { NonceStoreUnavailableError, type NonceStore } from '../nonce/NonceStore';
import type { Clock } from '../util/clock';
import { JWS_VERDICTS, refusal, type Refused, type VerdictName } from '../verdicts/verdicts';
import type { CertificateFacts } from '../x509/CertificateFacts';
import { IdentityUnavailableError, type Identity, type IdentityExpander } from './IdentityExpander';
import type { FoundToken, TokenSource } from './tokenSources';
import type { VerifiedTokenCache } from './VerifiedTokenCache';

export type Verdict =
  /**
   * `identity`: the expanded identity, when the verifier expands identities. `headers`: set
   * upstream by the claims verifiers' decisions (an authorizer's), checked like claims_to_headers ones.
   */
  { ok: true; claims: Claims; identity?: Identity; headers?: [string, string][] } | Refused;

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

/** The verdict on a failed registered-claims check: the check's own. */
const claimsRefusal = (problem: TokenProblem): Refused => refusal(problem.code, { detail: problem.claim });

export class Authenticator {
  constructor(private readonly deps: AuthenticatorDeps) {}

  async authenticate(request: AuthenticationRequest): Promise<Verdict> {
    const { rules, tokenCache, clock } = this.deps;
    const found = request.token;
    if (!found.present) return refusal('missing');
    if (found.ambiguous) return refusal('ambiguous_token');
    const text = found.token;
    if (text === undefined) return refusal('unreadable_token');
    const claimRules = request.audience === undefined ? rules.claims : { ...rules.claims, audience: undefined, audiences: new Set([request.audience]) };

    const cached = tokenCache?.get(text, clock());
    if (cached) {
      const problem = registeredClaimsProblem(cached.claims, claimRules, clock());
      if (problem) return claimsRefusal(problem);
      if ((await this.currentKey(cached.claims.iss as string, cached.keyId)) === cached.key) return this.decide(text, cached.claims, request);
    }

    const inspection = inspectToken(text, { allowPadding: rules.paddedSegments, maxLength: rules.maxTokenLength });
    if (!inspection.ok) return refusal(JWS_VERDICTS[inspection.code]);
    const { token } = inspection;
    const { header, claims } = token;
    // OpenID Connect Core §10.1: without `kid`, the set's only key for the token's alg signs.
    const onlyKey = header.kid === undefined && this.deps.keyServer.getOnlyKey !== undefined;
    if (typeof header.kid !== 'string' && !onlyKey) return refusal('kid');
    if (rules.expectedSigner !== undefined && header.signer !== rules.expectedSigner) return refusal('signer');
    const claimsProblem = registeredClaimsProblem(claims, claimRules, clock());
    if (claimsProblem) return claimsRefusal(claimsProblem);

    let verificationKey: VerificationKey;
    let keyId = header.kid as string;
    try {
      if (onlyKey) ({ keyId, key: verificationKey } = await this.deps.keyServer.getOnlyKey!(claims.iss as string, String(header.alg)));
      else verificationKey = await this.deps.keyServer.getPublicKey(claims.iss as string, keyId, request.client);
    } catch (error) {
      return keyRefusal(error as Error);
    }
    const signatureProblem = await this.signatureProblem(token, verificationKey);
    if (signatureProblem) return refusal(signatureProblem);

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
  private async signatureProblem(token: ParsedToken, key: VerificationKey): Promise<VerdictName | undefined> {
    const { alg } = token.header;
    if (alg !== key.algorithm) return 'alg_not_the_keys';
    if (this.deps.rules.algorithms && !this.deps.rules.algorithms.has(key.algorithm)) return 'alg_not_allowed';
    return (await verifySignatureAsync(key.algorithm, key.key, token.signingInput, token.signature)) ? undefined : 'signature';
  }

  private cacheUntil(claims: Claims): number {
    const skew = this.deps.rules.claims.times === 'tolerant' ? this.deps.rules.claims.maxSkewMs : 0;
    return (claims.exp as number) * 1000 + skew;
  }

  /** The certificate binding, the identity, claims verifiers, then the single-use jti for verifiers that want one. */
  private async decide(text: string, claims: Claims, request: AuthenticationRequest): Promise<Verdict> {
    const unbound = certificateBindingProblem(claims, request.clientCertificate);
    if (unbound) return refusal(unbound);
    let identity: Identity | undefined;
    if (this.deps.identityExpander) {
      try {
        identity = await this.deps.identityExpander.expand(text, claims);
      } catch (error) {
        if (error instanceof IdentityUnavailableError) return refusal('identity_unavailable', { cause: error });
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
        else if (problem) return refusal('claims_verifier', { detail: problem });
      }
    }
    const { nonceStore } = this.deps;
    if (!nonceStore) return { ok: true, claims, identity, headers };
    try {
      const fresh = await nonceStore.claim(claims.jti as string, (claims.exp as number) * 1000);
      return fresh ? { ok: true, claims, identity, headers } : refusal('replayed');
    } catch (error) {
      if (error instanceof NonceStoreUnavailableError) return refusal('nonce_store_unavailable', { cause: error });
      throw error;
    }
  }
}

/** RFC 8705 §3: a token with cnf["x5t#S256"] is good only with the client certificate of that thumbprint. */
function certificateBindingProblem(claims: Claims, certificate: CertificateFacts | undefined): VerdictName | undefined {
  const { cnf } = claims;
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return 'invalid_cnf';
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  // Other confirmation methods (jkt for DPoP…) are not checked here.
  if (thumbprint === undefined) return undefined;
  if (typeof thumbprint !== 'string') return 'invalid_cnf';
  if (!certificate) return 'certificate_required';
  return thumbprint === certificate.x5t_s256 ? undefined : 'certificate_mismatch';
}

/** A claims verifier that could not decide: refused (a failed script) or 503 (an authorizer that is down); anything else is a bug. */
function undecided(error: Error): Verdict {
  if (error instanceof ClaimsVerifierUnavailableError) return refusal('authorizer_unavailable', { cause: error });
  if (error instanceof ClaimsVerifierError) return refusal('claims_verifier', { detail: error.refusal, cause: error });
  throw error;
}

function keyRefusal(error: Error): Verdict {
  if (error instanceof KeyNotFoundError) return refusal('key_not_found', { cause: error });
  if (error instanceof KeyExpiredError) return refusal('key_expired', { cause: error });
  if (error instanceof KeysUnavailableError) return refusal('keys_unavailable', { cause: error });
  if (error instanceof KeyServerUnavailableError) return refusal('key_server_unavailable', { cause: error });
  return refusal('key_server_error', { cause: error });
}
