// The registered-claim checks of the Go verifier, in its order, with its reasons.
// Pure: the caller passes the time, so tests are exact.
import type { Claims } from './token';

export interface ClaimRules {
  /** The expected audience as audienceOrigin() gives it: only scheme://host is compared (Part A). */
  audience?: string;
  /** Opaque audiences (an Access AUD tag, a client id): `aud`, or one element of it, must equal one. */
  audiences?: ReadonlySet<string>;
  /** When set, `iss` must be one of these exactly. */
  issuers?: ReadonlySet<string>;
  maxSkewMs: number;
  /** Longest exp − iat; 0 means no limit. */
  maxTtlMs: number;
  /**
   * 'go' (the default) is the Go verifier's check: exp and nbf without tolerance, nbf and iat
   * required. 'tolerant' is what identity providers need: max_skew on exp, nbf and iat,
   * nbf and iat checked when present.
   */
  times?: 'go' | 'tolerant';
  /** False for tokens reusable until exp (identity-aware proxies issue no jti). Default true. */
  requireJti?: boolean;
  /** Claims that must be present (any value but null). */
  requiredClaims?: readonly string[];
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

function matchesAudiences(aud: unknown, expected: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return expected.has(aud);
  return Array.isArray(aud) && aud.some((item) => typeof item === 'string' && expected.has(item));
}

function audienceHolds(aud: unknown, rules: ClaimRules): boolean {
  if (rules.audience !== undefined && matchesAudience(aud, rules.audience)) return true;
  if (rules.audiences !== undefined && matchesAudiences(aud, rules.audiences)) return true;
  return rules.audience === undefined && rules.audiences === undefined;
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** The reason for a required claim that is absent. */
export function missingClaimReason(name: string): string {
  return `Missing required claim '${name}'`;
}

/** exp, nbf and iat with max_skew on each; nbf and iat only when present (identity-provider tokens). */
function checkTolerantTimes(claims: Claims, rules: ClaimRules, nowMs: number): Reason | undefined {
  const { exp, nbf, iat } = claims;
  const skew = rules.maxSkewMs;
  if (!isTime(exp) || nowMs > exp * 1000 + skew) return REASONS.exp;
  if (nbf !== undefined && (!isTime(nbf) || nowMs < nbf * 1000 - skew)) return REASONS.nbf;
  if (iat !== undefined && (!isTime(iat) || iat * 1000 - skew > nowMs)) return REASONS.iat;
  if (rules.maxTtlMs > 0 && exp * 1000 - (isTime(iat) ? iat * 1000 : nowMs) > rules.maxTtlMs) return REASONS.ttl;
  return undefined;
}

/** The time claims alone, as of `nowMs`. */
function checkTimes(claims: Claims, rules: ClaimRules, nowMs: number): Reason | undefined {
  if (rules.times === 'tolerant') return checkTolerantTimes(claims, rules, nowMs);
  const { exp, nbf, iat } = claims;
  if (!isTime(exp) || nowMs > exp * 1000) return REASONS.exp;
  if (!isTime(nbf) || nowMs < nbf * 1000) return REASONS.nbf;
  if (!isTime(iat) || iat * 1000 - rules.maxSkewMs > nowMs) return REASONS.iat;
  if (rules.maxTtlMs > 0 && (exp - iat) * 1000 > rules.maxTtlMs) return REASONS.ttl;
  return undefined;
}

/**
 * Checks iss, aud, exp, nbf, iat, the TTL and the presence of jti, in the Go order, then
 * the required claims. Returns the first failing reason, or undefined when they all hold.
 */
export function checkRegisteredClaims(claims: Claims, rules: ClaimRules, nowMs: number): string | undefined {
  if (typeof claims.iss !== 'string' || (rules.issuers !== undefined && !rules.issuers.has(claims.iss))) return REASONS.iss;
  if (!audienceHolds(claims.aud, rules)) return REASONS.aud;
  const timeProblem = checkTimes(claims, rules, nowMs);
  if (timeProblem) return timeProblem;
  if (rules.requireJti !== false && (typeof claims.jti !== 'string' || claims.jti === '')) return REASONS.jti;
  if (claims.jti !== undefined && typeof claims.jti !== 'string') return REASONS.jti;
  for (const name of rules.requiredClaims ?? []) {
    if (claims[name] === undefined || claims[name] === null) return missingClaimReason(name);
  }
  return undefined;
}
