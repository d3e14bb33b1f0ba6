// Checks the JWT a publisher sends with PUT and DELETE: signed by the key the request rests on
// (algorithm fixed by that key), iss = the service, aud = this registry, exp/nbf/iat, single use.
import { verifySignature } from '../jwt/algorithms';
import { registeredClaimsProblem } from '../jwt/registeredClaims';
import type { ParsedToken } from '../jwt/token';
import { NonceStoreUnavailableError, type NonceStore } from '../nonce/NonceStore';
import type { Clock } from '../util/clock';
import { tokenCheckReason, VERDICTS } from '../verdicts/verdicts';
import { publicKeyOf, type PublicJwk } from './publicJwk';
import { RegistryError } from './RegistryError';

/** Clock difference tolerated on iat (exp and nbf get none, as in Quay's registry). */
const REQUEST_TOKEN_MAX_SKEW_MS = 60_000;
/** Longest lifetime (exp - iat) of a request token; the Go signer's are 5 minutes. */
const REQUEST_TOKEN_MAX_TTL_MS = 3_600_000;

export interface RequestExpectations {
  service: string;
  /** This registry's origin as audienceOrigin() gives it. */
  audience: string;
}

export class RequestAuthenticator {
  constructor(private readonly deps: { nonceStore: NonceStore; clock: Clock }) {}

  /**
   * Resolves when `token` was signed by `signerJwk` (the key named by its kid) and its claims hold;
   * its jti is then spent. Throws RegistryError: 403 refused, 503 nonce store unavailable.
   */
  async authenticate(token: ParsedToken, signerJwk: PublicJwk, expected: RequestExpectations): Promise<void> {
    const { key, algorithm } = publicKeyOf(signerJwk);
    if (token.header.alg !== algorithm || !verifySignature(algorithm, key, token.signingInput, token.signature)) {
      throw refused(VERDICTS.signature.reason);
    }
    const claims = token.claims;
    const now = this.deps.clock();
    const problem = registeredClaimsProblem(claims, { audience: expected.audience, maxSkewMs: REQUEST_TOKEN_MAX_SKEW_MS, maxTtlMs: REQUEST_TOKEN_MAX_TTL_MS }, now);
    if (problem) throw refused(tokenCheckReason(problem));
    if (claims.iss !== expected.service) throw refused(VERDICTS.iss.reason);
    // Scoped to the service and signing key: two publishers whose jti generators collide
    // (Go seeds a non-cryptographic PRNG with the time) cannot block each other.
    const nonce = `keyregistry:${JSON.stringify([expected.service, signerJwk.kid, claims.jti])}`;
    let fresh: boolean;
    try {
      fresh = await this.deps.nonceStore.claim(nonce, (claims.exp as number) * 1000);
    } catch (error) {
      if (error instanceof NonceStoreUnavailableError) throw new RegistryError('ERR_REGISTRY_UNAVAILABLE', 'the replay check is unavailable; retry later', { cause: error });
      throw error;
    }
    if (!fresh) throw refused(`${VERDICTS.jti.reason}: the token was already used`);
  }
}

function refused(reason: string): RegistryError {
  return new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', `request token refused: ${reason}`);
}
