// The registered-claim checks of the Go verifier, in its order, with a stable code per check
// (src/util/verdicts.ts holds the Go texts). Pure: the caller passes the time, so tests are exact.
import type { Claims } from './token';

export interface ClaimRules {
  /** The expected audience as audienceOrigin() gives it: only scheme://host is compared, as the Go jwtproxy does. */
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

/** Which registered-claims check a token fails: what the verdict table tells the client for it. */
export type TokenCheckCode = 'iss' | 'aud' | 'exp' | 'nbf' | 'iat' | 'ttl' | 'jti' | 'required_claim';

/** A failed check, and for required_claim the claim that is absent. */
export interface TokenProblem {
  readonly code: TokenCheckCode;
  readonly claim?: string;
}

/** The problem of each fixed check, made once: a refusal allocates nothing. */
const PROBLEMS = {
  iss: Object.freeze({ code: 'iss' }),
  aud: Object.freeze({ code: 'aud' }),
  exp: Object.freeze({ code: 'exp' }),
  nbf: Object.freeze({ code: 'nbf' }),
  iat: Object.freeze({ code: 'iat' }),
  ttl: Object.freeze({ code: 'ttl' }),
  jti: Object.freeze({ code: 'jti' }),
} as const satisfies Record<string, TokenProblem>;

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

/** exp, nbf and iat with max_skew on each; nbf and iat only when present (identity-provider tokens). */
function checkTolerantTimes(claims: Claims, rules: ClaimRules, nowMs: number): TokenProblem | undefined {
  const { exp, nbf, iat } = claims;
  const skew = rules.maxSkewMs;
  if (!isTime(exp) || nowMs > exp * 1000 + skew) return PROBLEMS.exp;
  if (nbf !== undefined && (!isTime(nbf) || nowMs < nbf * 1000 - skew)) return PROBLEMS.nbf;
  if (iat !== undefined && (!isTime(iat) || iat * 1000 - skew > nowMs)) return PROBLEMS.iat;
  if (rules.maxTtlMs > 0 && exp * 1000 - (isTime(iat) ? iat * 1000 : nowMs) > rules.maxTtlMs) return PROBLEMS.ttl;
  return undefined;
}

/** The time claims alone, as of `nowMs`. */
function checkTimes(claims: Claims, rules: ClaimRules, nowMs: number): TokenProblem | undefined {
  if (rules.times === 'tolerant') return checkTolerantTimes(claims, rules, nowMs);
  const { exp, nbf, iat } = claims;
  if (!isTime(exp) || nowMs > exp * 1000) return PROBLEMS.exp;
  if (!isTime(nbf) || nowMs < nbf * 1000) return PROBLEMS.nbf;
  if (!isTime(iat) || iat * 1000 - rules.maxSkewMs > nowMs) return PROBLEMS.iat;
  if (rules.maxTtlMs > 0 && (exp - iat) * 1000 > rules.maxTtlMs) return PROBLEMS.ttl;
  return undefined;
}

/**
 * Checks iss, aud, exp, nbf, iat, the TTL and the presence of jti, in the Go order, then
 * the required claims. Returns the first failing check, or undefined when they all hold.
 */
export function registeredClaimsProblem(claims: Claims, rules: ClaimRules, nowMs: number): TokenProblem | undefined {
  if (typeof claims.iss !== 'string' || (rules.issuers !== undefined && !rules.issuers.has(claims.iss))) return PROBLEMS.iss;
  if (!audienceHolds(claims.aud, rules)) return PROBLEMS.aud;
  const timeProblem = checkTimes(claims, rules, nowMs);
  if (timeProblem) return timeProblem;
  if (rules.requireJti !== false && (typeof claims.jti !== 'string' || claims.jti === '')) return PROBLEMS.jti;
  if (claims.jti !== undefined && typeof claims.jti !== 'string') return PROBLEMS.jti;
  for (const name of rules.requiredClaims ?? []) {
    if (claims[name] === undefined || claims[name] === null) return { code: 'required_claim', claim: name };
  }
  return undefined;
}
