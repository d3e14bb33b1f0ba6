// A rule over a token's verified claims, applied after the registered-claim checks.
import type { Claims } from '../jwt/token';

export interface ClaimsVerifier {
  /** undefined when the claims pass, else why not (becomes "Error verifying claims: <why>"). */
  verify(claims: Claims): string | undefined;
}
