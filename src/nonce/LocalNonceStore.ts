// The in-process replay store: token ids held in memory until their token expires,
// bounded in size, purged in small slices so the event loop never stalls.
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { NonceStoreUnavailableError, type NonceStore } from './NonceStore';

export interface LocalNonceStoreOptions {
  /** How often expired token ids are dropped. */
  purgeIntervalMs: number;
  /** Live token ids held at most; past it claims are refused rather than old entries evicted. */
  maxEntries: number;
  clock: Clock;
  logger: Logger;
}

// Token ids are spread over many Sets so that V8's rehash of one Set, which copies the
// whole table synchronously, stays short: one Set of 2.4 M ids stalls for ~200 ms.
const SHARD_COUNT = 64;
// V8 refuses a Set of more than 2^24 entries; stay under it even if every id lands in one shard.
const MAX_ENTRIES_LIMIT = 16_000_000;
// Deletions done per event-loop turn while purging (~2 ms of work).
const PURGE_SLICE = 10_000;

export class LocalNonceStore implements NonceStore {
  private readonly shards: Set<string>[] = Array.from({ length: SHARD_COUNT }, () => new Set<string>());
  /** Token ids by the second their token expires (rounded up), so purge finds expired ids without scanning live ones. */
  private readonly expiries = new Map<number, string[]>();
  private entries = 0;
  private full = false;
  private timer?: NodeJS.Timeout;
  private purging?: Promise<void>;

  constructor(private readonly options: LocalNonceStoreOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1 || options.maxEntries > MAX_ENTRIES_LIMIT) {
      throw new RangeError(`local nonce store: max_entries must be an integer from 1 to ${MAX_ENTRIES_LIMIT}, got ${options.maxEntries}`);
    }
    if (!(options.purgeIntervalMs > 0)) {
      throw new RangeError(`local nonce store: purge_interval must be positive, got ${options.purgeIntervalMs} ms`);
    }
  }

  /** Token ids currently held, expired ones not yet purged included. */
  get size(): number {
    return this.entries;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.purge(), this.options.purgeIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.purging;
  }

  claim(jti: string, expiresAtMs: number): Promise<boolean> {
    try {
      return Promise.resolve(this.claimNow(jti, expiresAtMs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The synchronous claim: true when `jti` was new and is now recorded, false when it was
   * already recorded (expired but not yet purged counts as recorded). Throws
   * NonceStoreUnavailableError when the store is full.
   */
  claimNow(jti: string, expiresAtMs: number): boolean {
    // Check and record with no await in between: this is what makes a claim atomic.
    const shard = this.shards[shardOf(jti)];
    if (shard.has(jti)) return false;
    if (this.entries >= this.options.maxEntries) {
      this.refuseWhenFull();
    }
    shard.add(jti);
    this.entries++;
    const second = Math.ceil(expiresAtMs / 1000);
    const ids = this.expiries.get(second);
    if (ids) ids.push(jti);
    else this.expiries.set(second, [jti]);
    if (this.full) {
      this.full = false;
      this.options.logger.info({ entries: this.entries }, 'local nonce store has room again: accepting new tokens');
    }
    return true;
  }

  /**
   * Drops every token id whose token has expired, a slice at a time. Resolves when done;
   * a purge asked for while one runs joins it.
   */
  purge(): Promise<void> {
    this.purging ??= this.purgeExpired().finally(() => {
      this.purging = undefined;
    });
    return this.purging;
  }

  private async purgeExpired(): Promise<void> {
    const nowSecond = Math.floor(this.options.clock() / 1000);
    // Detach the expired lists first: ids claimed meanwhile go to fresh lists, purged next time.
    const expired: string[][] = [];
    for (const [second, ids] of this.expiries) {
      if (second <= nowSecond) {
        expired.push(ids);
        this.expiries.delete(second);
      }
    }
    let budget = PURGE_SLICE;
    for (const ids of expired) {
      for (const jti of ids) {
        if (this.shards[shardOf(jti)].delete(jti)) this.entries--;
        if (--budget === 0) {
          budget = PURGE_SLICE;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
  }

  private refuseWhenFull(): never {
    if (!this.full) {
      this.full = true;
      this.options.logger.warn(
        { maxEntries: this.options.maxEntries },
        'local nonce store is full: refusing new tokens until expired ones are purged (raise nonce_storage max_entries or lower max_ttl)',
      );
    }
    // Expired ids may be what fills it: make room now rather than at the next tick.
    void this.purge();
    throw new NonceStoreUnavailableError(`the local nonce store is full (${this.options.maxEntries} unexpired token ids); raise nonce_storage max_entries or lower max_ttl`);
  }
}

/** FNV-1a over the UTF-16 code units: cheap, and spreads similar ids over the shards. */
function shardOf(jti: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < jti.length; i++) hash = Math.imul(hash ^ jti.charCodeAt(i), 0x01000193);
  return hash & (SHARD_COUNT - 1);
}
