// Identity expansion: more about the user of a verified token than the token itself
// says — Cloudflare Access's get-identity document with groups, device posture, geo and idp.
// The Authenticator asks for it after the signature and before the claims verifiers, which
// see it as `identity` beside `claims` and `request`.
import type { Claims } from '../jwt/token';
import { JwtproxyError } from '../util/JwtproxyError';

/** The expanded identity: a JSON object, as the identity endpoint answered it. */
export type Identity = Record<string, unknown>;

export interface IdentityExpander {
  /**
   * The identity of a verified token; undefined when there is none to add. Rejects with
   * IdentityUnavailableError when the identity is required and cannot be had.
   */
  expand(token: string, claims: Claims): Promise<Identity | undefined>;
}

/** The identity is required and its endpoint is down, slow, or answered something else than an identity: fail closed (503). */
export class IdentityUnavailableError extends JwtproxyError {
  readonly code = 'ERR_IDENTITY_UNAVAILABLE';
}

/** The identity a token carries itself, in its `identity` claim (the request tokens of Access's external evaluation). */
export const identityClaim: IdentityExpander = {
  expand: async (_token, claims) => (isJsonObject(claims.identity) ? claims.identity : undefined),
};

export function isJsonObject(value: unknown): value is Identity {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where a verified token's expanded identity is fetched, and how it is kept. */
export interface IdentityConfig {
  url: URL;
  /** How the token goes to the endpoint: `cookie` as Cloudflare wants it (CF_Authorization=<token>), or `bearer`. */
  sendToken: 'cookie' | 'bearer';
  /** True: a request whose identity cannot be fetched is refused with 503; false: it goes on without `identity`. */
  required: boolean;
  /** Identities kept at most (one per token, each until the token's exp). */
  cacheEntries: number;
  timeoutMs: number;
}
