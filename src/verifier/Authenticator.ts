// The per-request decision: is this request's token valid, fresh, and unused?
// Order: parse, registered claims (the Go order and reasons), key, signature, claims
// verifiers, and only then the single-use jti — so a forged token never burns a nonce.
import type { ClaimsVerifier } from '../claims/ClaimsVerifier';
import { verifySignature } from '../jwt/algorithms';
import { checkRegisteredClaims, REASONS, type ClaimRules } from '../jwt/registeredClaims';
import { parseToken, type Claims } from '../jwt/token';
import { KeyExpiredError, KeyNotFoundError, type KeyServer, type VerificationKey } from '../keys/KeyServer';
import { NonceStoreUnavailableError, type NonceStore } from '../nonce/NonceStore';
import type { Clock } from '../util/clock';
import { extractToken } from './extractToken';

export type Verdict =
  | { ok: true; claims: Claims }
  /** `reason` is for the client; `cause` for the operator's log. */
  | { ok: false; status: 403 | 503; reason: string; cause?: Error };

export interface AuthenticatorDeps {
  rules: ClaimRules;
  keyServer: KeyServer;
  nonceStore: NonceStore;
  claimsVerifiers: ClaimsVerifier[];
  clock: Clock;
}

const refuse = (reason: string, cause?: Error): Verdict => ({ ok: false, status: 403, reason, cause });

export const NONCE_STORE_UNAVAILABLE = 'Nonce storage unavailable';

export class Authenticator {
  constructor(private readonly deps: AuthenticatorDeps) {}

  async authenticate(authorization: string | undefined): Promise<Verdict> {
    const text = extractToken(authorization);
    const token = text === undefined ? undefined : parseToken(text);
    if (!token) return refuse(REASONS.parse);
    const { header, claims } = token;
    if (typeof header.kid !== 'string') return refuse(REASONS.kid);
    const nowMs = this.deps.clock();
    const claimsProblem = checkRegisteredClaims(claims, this.deps.rules, nowMs);
    if (claimsProblem) return refuse(claimsProblem);

    let verificationKey: VerificationKey;
    try {
      verificationKey = await this.deps.keyServer.getPublicKey(claims.iss as string, header.kid);
    } catch (error) {
      if (error instanceof KeyNotFoundError) return refuse(REASONS.keyNotFound, error);
      if (error instanceof KeyExpiredError) return refuse(REASONS.keyExpired, error);
      return refuse(REASONS.keyServer, error as Error);
    }
    // The key decides the algorithm: "none", HMAC or any other alg is refused.
    if (header.alg !== verificationKey.algorithm || !verifySignature(verificationKey.algorithm, verificationKey.key, token.signingInput, token.signature)) {
      return refuse(REASONS.signature);
    }

    for (const verifier of this.deps.claimsVerifiers) {
      const problem = verifier.verify(claims);
      if (problem) return refuse(`Error verifying claims: ${problem}`);
    }

    try {
      const fresh = await this.deps.nonceStore.claim(claims.jti as string, (claims.exp as number) * 1000);
      return fresh ? { ok: true, claims } : refuse(REASONS.jti);
    } catch (error) {
      if (error instanceof NonceStoreUnavailableError) return { ok: false, status: 503, reason: NONCE_STORE_UNAVAILABLE, cause: error };
      throw error;
    }
  }
}
