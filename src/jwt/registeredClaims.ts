// The registered-claim checks of the Go verifier, in its order, with its reasons.
// Pure: the caller passes the time, so tests are exact.
import type { Claims } from './token';

export interface ClaimRules {
  /** The expected audience as audienceOrigin() gives it: only scheme://host is compared. */
  audience: string;
  maxSkewMs: number;
  maxTtlMs: number;
}

/** Why a token fails; the texts are the Go jwtproxy's, which clients may match on. */
export const REASONS = {
  parse: 'Could not parse JWT',
  kid: "Missing 'kid' claim",
  iss: "Missing or invalid 'iss' claim",
  aud: "Missing or invalid 'aud' claim",
  exp: "Missing or invalid 'exp' claim",
  nbf: "Missing or invalid 'nbf' claim",
  iat: "Missing or invalid 'iat' claim",
  ttl: "Invalid 'exp' claim (too long)",
  jti: "Missing or invalid 'jti' claim",
  keyNotFound: 'Could not find any matching public key',
  keyExpired: 'Key has expired.',
  keyServer: 'Unexpected key server error',
  signature: 'Invalid JWT signature',
} as const;

export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** scheme://host[:port] in lower case: what audiences are compared by. */
export function audienceOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`.toLowerCase();
}

function originOf(audience: string): string | undefined {
  try {
    return audienceOrigin(new URL(audience));
  } catch {
    return undefined;
  }
}

function matchesAudience(aud: unknown, expected: string): boolean {
  // Fast path: signers write the origin itself; only other forms need URL parsing.
  if (typeof aud === 'string') return aud === expected || originOf(aud) === expected;
  return Array.isArray(aud) && aud.some((item) => typeof item === 'string' && originOf(item) === expected);
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * Checks iss, aud, exp, nbf, iat, the TTL and the presence of jti, in the Go order.
 * Returns the first failing reason, or undefined when they all hold.
 */
export function checkRegisteredClaims(claims: Claims, rules: ClaimRules, nowMs: number): Reason | undefined {
  if (typeof claims.iss !== 'string') return REASONS.iss;
  if (!matchesAudience(claims.aud, rules.audience)) return REASONS.aud;
  const { exp, nbf, iat } = claims;
  if (!isTime(exp) || nowMs > exp * 1000) return REASONS.exp;
  if (!isTime(nbf) || nowMs < nbf * 1000) return REASONS.nbf;
  if (!isTime(iat) || iat * 1000 - rules.maxSkewMs > nowMs) return REASONS.iat;
  if ((exp - iat) * 1000 > rules.maxTtlMs) return REASONS.ttl;
  if (typeof claims.jti !== 'string' || claims.jti === '') return REASONS.jti;
  return undefined;
}
