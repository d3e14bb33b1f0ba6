// The registry's rules, apart from HTTP: which keys are served, how a key is published,
// rotated, approved, revoked, and how time expires them. Every state change is logged at info.
//
// Auto approval trusts a self-signed key only where that cannot take a service over: the
// service's first key (no other key of it on record, tombstones included), or any key of the
// services the operator names. Any later key needs a rotation signed by an approved key of its
// service, or an administrator.
//
// Keys awaiting approval are bounded, as anyone can publish one: at most maxPendingKeysPerService
// per service (429 beyond), each dropped when not approved within pendingKeyTtlMs. A key never
// approved leaves no tombstone when it ends (nobody verified a token with it).
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import type { KeyStorage } from './KeyStorage';
import { sameKey, type PublicJwk } from './publicJwk';
import { effectiveState, type KeyState, type RegisteredKey } from './RegisteredKey';
import { RegistryError } from './RegistryError';
import type { KeyRegistryConfig } from './registryConfig';

export interface KeyRegistryPolicy {
  approval: 'auto' | 'manual';
  /** Under auto approval: services whose every new self-signed key is approved, not only their first. */
  autoApproveServices: ReadonlySet<string>;
  /** Upper bound of the max-age served with a key. */
  maxCacheAgeMs: number;
  /** Keys awaiting approval one service may have; one more is refused (429). */
  maxPendingKeysPerService: number;
  /** How long a key may await approval; then it is dropped, as if never published. */
  pendingKeyTtlMs: number;
  /** How long a key that a rotation replaced is still served, for tokens it signed just before. */
  rotationGraceMs: number;
}

export interface KeyRegistryDeps {
  storage: KeyStorage;
  clock: Clock;
  logger: Logger;
}

/** A key as a PUT offers it. */
export interface OfferedKey {
  service: string;
  kid: string;
  jwk: PublicJwk;
  expiresAt: number | null;
  rotationSeconds: number | null;
}

export interface ServedKey {
  jwk: PublicJwk;
  /** How long a verifier may cache it: until it expires or is revoked, at most maxCacheAgeMs. */
  maxAgeSeconds: number;
}

export function registryPolicy(config: KeyRegistryConfig): KeyRegistryPolicy {
  return {
    approval: config.approval,
    autoApproveServices: new Set(config.autoApproveServices),
    maxCacheAgeMs: config.maxCacheAgeMs,
    rotationGraceMs: config.rotationGraceMs,
    maxPendingKeysPerService: config.maxPendingKeysPerService,
    pendingKeyTtlMs: config.pendingKeyTtlMs,
  };
}

/**
 * Revoked and expired keys that were approved are kept this long (so GET says 403, not 404, and a
 * revoked kid cannot come back), then purged. Keys never approved are purged when they end.
 */
export const TOMBSTONE_RETENTION_MS = 7 * 86_400_000;

type SweepEvent = 'expired' | 'revoked' | 'dropped' | 'purged';

/** A key nobody approved (pending, or ended while pending): nobody verified a token with it. */
const neverApproved = (key: RegisteredKey): boolean => key.approvedAt === null && key.state !== 'approved';

/** What the sweep has to do to a key: log what time did to it (if anything), and whether its record goes. */
function sweepOutcome(key: RegisteredKey, nowMs: number, pendingKeyTtlMs: number): { event: SweepEvent; remove: boolean } | undefined {
  const state = effectiveState(key, nowMs);
  if (neverApproved(key)) {
    // It leaves no tombstone.
    if (state === 'pending') return key.createdAt + pendingKeyTtlMs <= nowMs ? { event: 'dropped', remove: true } : undefined;
    return { event: state === 'expired' && key.state !== 'expired' ? 'expired' : 'purged', remove: true };
  }
  if (state !== key.state) return { event: state === 'expired' ? 'expired' : 'revoked', remove: false };
  const endedAt = state === 'revoked' ? key.revokeAt : state === 'expired' ? key.expiresAt : null;
  return endedAt !== null && endedAt + TOMBSTONE_RETENTION_MS <= nowMs ? { event: 'purged', remove: true } : undefined;
}

const SWEEP_MESSAGES: Record<SweepEvent, string> = {
  expired: 'key expired',
  revoked: 'key revoked: its rotation grace period is over',
  dropped: 'key dropped: it was not approved within pending_key_ttl',
  purged: 'key record purged',
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const label = (service: string, kid: string): string => `${service}/${JSON.stringify(kid)}`;

export class KeyRegistry {
  private readonly storage: KeyStorage;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** The publication running for each service: publications of one service run one at a time. */
  private readonly publishing = new Map<string, Promise<unknown>>();
  /** Services found with no room for another key awaiting approval, so a flood of them is logged once. */
  private readonly fullServices = new Set<string>();

  constructor(
    private readonly policy: KeyRegistryPolicy,
    deps: KeyRegistryDeps,
  ) {
    this.storage = deps.storage;
    this.clock = deps.clock;
    this.logger = deps.logger;
  }

  /** The key for GET …/keys/<kid>: 404 unknown or revoked, 403 expired, 409 awaiting approval. */
  async servedKey(service: string, kid: string): Promise<ServedKey> {
    const key = await this.storage.get(service, kid);
    const now = this.clock();
    switch (this.stateOf(key, now)) {
      case undefined:
        throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no key ${label(service, kid)}`);
      case 'revoked':
        throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `the key ${label(service, kid)} was revoked`);
      case 'expired':
        throw new RegistryError('ERR_REGISTRY_KEY_EXPIRED', `the key ${label(service, kid)} has expired`);
      case 'pending':
        throw new RegistryError('ERR_REGISTRY_KEY_PENDING', `the key ${label(service, kid)} is awaiting approval`);
    }
    const servedUntil = Math.min(key!.expiresAt ?? Infinity, key!.revokeAt ?? Infinity, now + this.policy.maxCacheAgeMs);
    return { jwk: key!.jwk, maxAgeSeconds: Math.max(0, Math.floor((servedUntil - now) / 1000)) };
  }

  /** The approved, unexpired keys of a service, for GET …/keys. */
  async servedKeys(service: string): Promise<PublicJwk[]> {
    const now = this.clock();
    const keys = await this.storage.list(service);
    return keys
      .filter((key) => effectiveState(key, now) === 'approved')
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((key) => key.jwk);
  }

  /** A key that may sign a rotation: approved and unexpired. Otherwise 403. */
  async activeKey(service: string, kid: string): Promise<RegisteredKey> {
    const key = await this.storage.get(service, kid);
    const state = this.stateOf(key, this.clock());
    if (state !== 'approved') {
      throw new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', `the signing key ${label(service, kid)} is ${state === undefined ? 'unknown' : state}, not an approved key`);
    }
    return key!;
  }

  /** A key its owner may delete: known and not revoked. Otherwise 404. */
  async ownedKey(service: string, kid: string): Promise<RegisteredKey> {
    const key = await this.storage.get(service, kid);
    const state = this.stateOf(key, this.clock());
    if (state === undefined || state === 'revoked') throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no key ${label(service, kid)}`);
    return key!;
  }

  /**
   * Registers a key its own signature vouches for: pending, or approved when auto approval may
   * approve it (see the header). Publishing a live key again changes nothing (a retried PUT).
   * Resolves to its state.
   */
  publish(offer: OfferedKey): Promise<'approved' | 'pending'> {
    // One at a time per service, so what is decided from the service's other keys stays true
    // until the key is written (across processes, the storage's update decides atomically).
    const previous = this.publishing.get(offer.service) ?? Promise.resolve();
    const result = previous.then(() => this.publishNow(offer));
    const settled = result.catch(() => undefined);
    this.publishing.set(offer.service, settled);
    void settled.then(() => {
      if (this.publishing.get(offer.service) === settled) this.publishing.delete(offer.service);
    });
    return result;
  }

  private async publishNow(offer: OfferedKey): Promise<'approved' | 'pending'> {
    const now = this.clock();
    // Keys dropped after pending_key_ttl are as good as gone: they do not make a service known.
    const autoApprovesBeside = (keys: readonly RegisteredKey[]): boolean =>
      this.policy.approval === 'auto' && (this.policy.autoApproveServices.has(offer.service) || !keys.some((key) => key.kid !== offer.kid && this.stateOf(key, now) !== undefined));
    const keys = await this.storage.list(offer.service);
    const known = keys.find((key) => key.kid === offer.kid);
    if (!autoApprovesBeside(keys) && this.stateOf(known, now) === undefined)
      await this.makeRoomForPending(
        offer.service,
        keys.filter((key) => key !== known),
        now,
      );
    let created = false as boolean;
    let approved = false as boolean;
    const key = await this.storage.update(offer.service, offer.kid, (current, others) => {
      created = false;
      approved = false;
      // Decided from the service's keys as the storage holds them at the write, in any process:
      // of two registries offering two different first keys at once, one approves and one does not.
      const autoApproves = autoApprovesBeside(others);
      if (!current || this.stateOf(current, now) === undefined) {
        created = true;
        approved = autoApproves;
        return this.newKey(offer, approved ? 'approved' : 'pending', now);
      }
      this.checkReplaceable(current, offer, now);
      if (current.state === 'pending' && autoApproves) {
        approved = true;
        return { ...current, state: 'approved', approvedAt: now };
      }
      return undefined;
    });
    const state = key!.state === 'approved' ? 'approved' : 'pending';
    if (created && state === 'approved') {
      this.logger.info({ service: offer.service, kid: offer.kid, state, expiresAt: iso(offer.expiresAt) }, 'key published and approved automatically');
    } else if (created) {
      // Under auto approval a pending key is one that could have taken the service over: worth a reason.
      const reason = this.policy.approval === 'auto' ? 'the service has other keys: auto approval approves its first key only' : undefined;
      this.logger.info({ service: offer.service, kid: offer.kid, state, expiresAt: iso(offer.expiresAt), reason }, 'key published, awaiting approval');
    } else if (approved) {
      this.logger.info({ service: offer.service, kid: offer.kid }, 'key approved automatically');
    }
    return state;
  }

  /**
   * Before a new key awaiting approval is stored: the service's keys that can no longer be
   * approved (ended, or past pending_key_ttl) are removed, then the live ones must leave room.
   */
  private async makeRoomForPending(service: string, keys: RegisteredKey[], now: number): Promise<void> {
    const waiting: RegisteredKey[] = [];
    for (const key of keys) {
      if (!neverApproved(key)) continue;
      if (this.stateOf(key, now) === 'pending') {
        waiting.push(key);
        continue;
      }
      await this.storage.update(service, key.kid, (current) => (current && neverApproved(current) && this.stateOf(current, now) !== 'pending' ? null : undefined));
    }
    const max = this.policy.maxPendingKeysPerService;
    if (waiting.length < max) {
      this.fullServices.delete(service);
      return;
    }
    if (!this.fullServices.has(service)) {
      this.fullServices.add(service);
      this.logger.warn(
        { service, pending: waiting.length, max },
        'a service has max_pending_keys_per_service keys awaiting approval: more are refused (429) until some are approved, revoked or dropped',
      );
    }
    const firstEnd = Math.min(...waiting.map((key) => Math.min(key.createdAt + this.policy.pendingKeyTtlMs, key.expiresAt ?? Infinity, key.revokeAt ?? Infinity)));
    throw new RegistryError(
      'ERR_REGISTRY_TOO_MANY_PENDING',
      `the service ${JSON.stringify(service)} already has ${waiting.length} keys awaiting approval (max_pending_keys_per_service: ${max}); approve or revoke them, or retry once one has gone`,
      { retryAfterSeconds: Math.max(1, Math.ceil((firstEnd - now) / 1000)) },
    );
  }

  /**
   * Replaces `signerKid` by the offered key: the new key is approved at once (it inherits the
   * signer's approval) and the signer is revoked after the rotation grace, so tokens it signed
   * just before stay verifiable. The signer must still be approved when this runs.
   */
  async rotate(signerKid: string, offer: OfferedKey): Promise<void> {
    const now = this.clock();
    const graceEnd = now + this.policy.rotationGraceMs;
    // Checked before the signer is touched, so a refused rotation never schedules its revocation.
    const existing = await this.storage.get(offer.service, offer.kid);
    if (this.stateOf(existing, now) !== undefined) this.checkReplaceable(existing!, offer, now);
    const signer = await this.storage.update(offer.service, signerKid, (current) => {
      const state = this.stateOf(current, now);
      if (state !== 'approved') {
        throw new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', `the signing key ${label(offer.service, signerKid)} is ${state ?? 'unknown'}, not an approved key`);
      }
      // A signer that already rotated keeps its earlier end: signing again never extends it.
      if (current!.revokeAt !== null && current!.revokeAt <= graceEnd) return undefined;
      return { ...current!, revokeAt: graceEnd };
    });
    await this.storage.update(offer.service, offer.kid, (current) => {
      if (!current || this.stateOf(current, now) === undefined) return this.newKey(offer, 'approved', now);
      this.checkReplaceable(current, offer, now);
      return current.state === 'pending' ? { ...current, state: 'approved', approvedAt: now } : undefined;
    });
    this.logger.info(
      { service: offer.service, kid: offer.kid, previousKid: signerKid, previousRevokeAt: iso(signer!.revokeAt), expiresAt: iso(offer.expiresAt) },
      'key rotated: new key approved, previous key revoked after the grace period',
    );
  }

  /** Revokes a key at its owner's request (DELETE). */
  async remove(service: string, kid: string): Promise<void> {
    const now = this.clock();
    await this.storage.update(service, kid, (current) => {
      const state = this.stateOf(current, now);
      if (state === undefined || state === 'revoked') throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no key ${label(service, kid)}`);
      return { ...current!, state: 'revoked', revokeAt: now };
    });
    this.logger.info({ service, kid }, 'key revoked by its owner');
  }

  /** Approves a pending key (admin). Approving an approved key changes nothing; a revoked or expired one is refused (409). */
  async approve(service: string, kid: string): Promise<RegisteredKey> {
    const now = this.clock();
    let changed = false as boolean;
    const key = await this.storage.update(service, kid, (current) => {
      changed = false;
      if (!current) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no key ${label(service, kid)}`);
      const state = this.stateOf(current, now);
      if (state === undefined) {
        throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `the key ${label(service, kid)} was not approved within pending_key_ttl and is gone; its publisher has to publish it again`);
      }
      if (state === 'approved') return undefined;
      if (state !== 'pending') throw new RegistryError('ERR_REGISTRY_KEY_NOT_PENDING', `the key ${label(service, kid)} is ${state}: it can no longer be approved`);
      changed = true;
      return { ...current, state: 'approved', approvedAt: now };
    });
    if (changed) this.logger.info({ service, kid }, 'key approved');
    return key!;
  }

  /** Revokes a key at once (admin). Revoking a revoked key changes nothing. */
  async revoke(service: string, kid: string): Promise<RegisteredKey> {
    const now = this.clock();
    let changed = false as boolean;
    const key = await this.storage.update(service, kid, (current) => {
      changed = false;
      const state = this.stateOf(current, now);
      if (state === undefined) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no key ${label(service, kid)}`);
      if (state === 'revoked') return current!.state === 'revoked' ? undefined : { ...current!, state: 'revoked' };
      changed = true;
      return { ...current!, state: 'revoked', revokeAt: now };
    });
    if (changed) this.logger.info({ service, kid }, 'key revoked by an administrator');
    return key!;
  }

  /** Keys with their state as of now (for the admin API and CLI), by service then age. */
  async list(filter: { service?: string; state?: KeyState } = {}): Promise<RegisteredKey[]> {
    const now = this.clock();
    const keys = await this.storage.list(filter.service);
    return keys
      .flatMap((key) => {
        const state = this.stateOf(key, now);
        return state === undefined ? [] : [{ ...key, state }];
      })
      .filter((key) => filter.state === undefined || key.state === filter.state)
      .sort((a, b) => a.service.localeCompare(b.service) || a.createdAt - b.createdAt || a.kid.localeCompare(b.kid));
  }

  /**
   * Records what time did (expiries, ends of rotation grace) so each is logged once, even with
   * several registry processes, and purges tombstones past TOMBSTONE_RETENTION_MS.
   */
  async sweep(): Promise<void> {
    const now = this.clock();
    // Only keys with something due are updated (each update of file storage takes its lock).
    const ttl = this.policy.pendingKeyTtlMs;
    const due = (await this.storage.list()).filter((key) => sweepOutcome(key, now, ttl) !== undefined);
    for (const key of due) {
      let outcome: ReturnType<typeof sweepOutcome>;
      await this.storage.update(key.service, key.kid, (current) => {
        outcome = current && sweepOutcome(current, now, ttl);
        if (outcome === undefined) return undefined;
        return outcome.remove ? null : { ...current!, state: outcome.event as 'expired' | 'revoked' };
      });
      if (outcome) this.logger[outcome.event === 'purged' ? 'debug' : 'info']({ service: key.service, kid: key.kid }, SWEEP_MESSAGES[outcome.event]);
    }
  }

  /** The state at `now`; undefined for no key, or one that awaited approval past pending_key_ttl (as good as gone). */
  private stateOf(key: RegisteredKey | undefined, now: number): KeyState | undefined {
    if (!key) return undefined;
    const state = effectiveState(key, now);
    return state === 'pending' && key.createdAt + this.policy.pendingKeyTtlMs <= now ? undefined : state;
  }

  private newKey(offer: OfferedKey, state: 'approved' | 'pending', now: number): RegisteredKey {
    return {
      service: offer.service,
      kid: offer.kid,
      jwk: offer.jwk,
      state,
      expiresAt: offer.expiresAt,
      rotationSeconds: offer.rotationSeconds,
      createdAt: now,
      approvedAt: state === 'approved' ? now : null,
      revokeAt: null,
    };
  }

  /** A kid stays bound to its key, and a revoked or expired key cannot be published back to life. */
  private checkReplaceable(current: RegisteredKey, offer: OfferedKey, now: number): void {
    if (!sameKey(current.jwk, offer.jwk)) {
      throw new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', `the kid ${label(offer.service, offer.kid)} is already registered with another key`);
    }
    const state = this.stateOf(current, now);
    if (state === 'revoked' || state === 'expired') {
      throw new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', `the key ${label(offer.service, offer.kid)} is ${state}; publish a new key`);
    }
  }
}
