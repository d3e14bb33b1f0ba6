// Verification results per token, as Envoy's jwt_authn caches them: identity-aware proxies
// send one token thousands of times, and a cached result costs no signature check. An
// entry never outlives the token's exp, holds the key that verified it (a key that left
// the key set makes the entry useless), and its time claims are checked again on each use.
import type { Claims } from '../jwt/token';
import { ExpiringLruCache } from '../keys/ExpiringLruCache';
import type { VerificationKey } from '../keys/KeyServer';

export interface VerifiedToken {
  claims: Claims;
  keyId: string;
  key: VerificationKey;
}

export class VerifiedTokenCache {
  private readonly entries: ExpiringLruCache<VerifiedToken>;

  constructor(maxEntries: number) {
    this.entries = new ExpiringLruCache(maxEntries);
  }

  get(token: string, nowMs: number): VerifiedToken | undefined {
    return this.entries.get(token, nowMs);
  }

  /** Keeps the result until `expiresAtMs` (the token's exp, with any tolerated skew). */
  set(token: string, verified: VerifiedToken, expiresAtMs: number): void {
    this.entries.set(token, verified, expiresAtMs);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
