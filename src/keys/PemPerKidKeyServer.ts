// A public key per kid, each a PEM document at <base URL><kid> (AWS ALB:
// https://public-keys.auth.elb.<region>.amazonaws.com/<kid>). Keys are fetched when a token
// first names them, one request per kid at a time, and kept for `cache_duration`; a kid
// the endpoint does not know is remembered for `not_found_duration`, and a kid that is
// not a plain identifier is never fetched, so clients cannot steer the requests. Tokens are
// looked up before their signature is checked, so anyone can name random kids: new kids are
// fetched at most NEW_KIDS_PER_WINDOW per minute, and misses are kept apart from the keys,
// which they can never push out. Past that budget a kid is not lost: it waits among the
// wanted kids (WantedKids: weighed by clients, not requests), and every WANTED_SLOT_MS one
// fetch goes to the heaviest.
import { createPublicKey } from 'node:crypto';
import { OutboundHttpClient } from '../http/OutboundHttpClient';
import { OutboundHttpError } from '../http/OutboundHttpError';
import { verificationAlgorithmOf } from '../jwt/algorithms';
import { loggableUrl } from '../observability/loggableUrl';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { ExpiringLruCache } from './ExpiringLruCache';
import { WantedKids } from './WantedKids';
import { KeyNotFoundError, KeysUnavailableError, type KeyServer, type VerificationKey } from './KeyServer';
import type { KeyServerConfig } from './keyServerTypes';

export type PemPerKidKeyServerConfig = Extract<KeyServerConfig, { type: 'pem_per_kid' }>;

const REQUEST_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_CACHED_KIDS = 1000;
/** A failed fetch (endpoint down) is remembered this long, so an outage is not hit by every request. */
const FAILURE_CACHE_MS = 1000;
const KID = /^[A-Za-z0-9_-]{1,128}$/;

type Lookup = { key: VerificationKey } | { notFound: true } | { failure: Error };

const NEW_KIDS_PER_WINDOW = 30;
const NEW_KID_WINDOW_MS = 60_000;
/** How often the most requested waiting kid is fetched, on top of the budget (12 a minute). */
const WANTED_SLOT_MS = 5_000;
const MAX_WANTED_KIDS = 256;
/** Who asks when the caller does not say (tools, the external evaluation endpoint). */
const UNNAMED_CLIENT = '';

export class PemPerKidKeyServer implements KeyServer {
  private readonly keys = new ExpiringLruCache<Lookup>(MAX_CACHED_KIDS);
  private readonly misses = new ExpiringLruCache<Lookup>(MAX_CACHED_KIDS);
  private windowStart = Number.NEGATIVE_INFINITY;
  private fetchesInWindow = 0;
  /** Kids refused for lack of budget, waiting for a slot. */
  private readonly wanted: WantedKids;
  private nextWantedSlot = Number.NEGATIVE_INFINITY;
  private readonly inFlight = new Map<string, Promise<Lookup>>();
  private readonly http = new OutboundHttpClient({ timeoutMs: REQUEST_TIMEOUT_MS, maxBodyBytes: MAX_BODY_BYTES, keepAliveTimeoutMs: 60_000 });
  private readonly issuers?: Set<string>;
  /** The base URL as a directory: `…/aws-elb-public-keys-prod-us-gov-west-1` keeps its last segment. */
  private readonly baseUrl: URL;

  constructor(
    private readonly config: PemPerKidKeyServerConfig,
    private readonly deps: { clock: Clock; logger: Logger },
  ) {
    this.issuers = config.issuers.length ? new Set(config.issuers) : undefined;
    this.wanted = new WantedKids(MAX_WANTED_KIDS, config.notFoundCacheMs);
    this.baseUrl = new URL(config.baseUrl);
    if (!this.baseUrl.pathname.endsWith('/')) this.baseUrl.pathname += '/';
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.http.close();
  }

  /** Forgets every cached key (SIGHUP). */
  async reload(): Promise<void> {
    this.keys.clear();
    this.misses.clear();
    this.wanted.clear();
  }

  async getPublicKey(issuer: string, keyId: string, client = UNNAMED_CLIENT): Promise<VerificationKey> {
    if ((this.issuers && !this.issuers.has(issuer)) || !KID.test(keyId)) throw new KeyNotFoundError(issuer, keyId);
    const now = this.deps.clock();
    const known = this.keys.get(keyId, now) ?? this.misses.get(keyId, now);
    if (!known && !this.inFlight.has(keyId) && !this.mayFetch(now) && !this.wantedSlot(keyId, client, now)) throw new KeyNotFoundError(issuer, keyId);
    this.wanted.forget(keyId);
    const lookup = known ?? (await this.lookUp(keyId));
    if ('key' in lookup) return lookup.key;
    if ('notFound' in lookup) throw new KeyNotFoundError(issuer, keyId);
    throw new KeysUnavailableError(lookup.failure.message, { cause: lookup.failure });
  }

  /** The budget of fetches for kids not seen before; past it such kids are not found until the window ends. */
  private mayFetch(now: number): boolean {
    if (now - this.windowStart >= NEW_KID_WINDOW_MS) {
      this.windowStart = now;
      this.fetchesInWindow = 0;
    }
    if (this.fetchesInWindow >= NEW_KIDS_PER_WINDOW) {
      if (this.fetchesInWindow++ === NEW_KIDS_PER_WINDOW) this.deps.logger.warn({ budget: NEW_KIDS_PER_WINDOW }, 'too many unknown kids this minute: further ones are refused without a fetch');
      return false;
    }
    this.fetchesInWindow++;
    return true;
  }

  /**
   * Past the budget: notes that `client` wants `keyId` and, once a slot is due, fetches the
   * heaviest waiting kid. True when that is `keyId` (the caller awaits it); any other is fetched
   * in the background, for its next request. The clients of a slot's kid that does not exist are muted.
   */
  private wantedSlot(keyId: string, client: string, now: number): boolean {
    this.wanted.want(keyId, client, now);
    if (now < this.nextWantedSlot) return false;
    this.nextWantedSlot = now + WANTED_SLOT_MS;
    const chosen = this.wanted.takeHeaviest(now);
    if (!chosen) return false;
    void this.lookUp(chosen.kid).then((lookup) => {
      if ('notFound' in lookup) this.wanted.mute(chosen.clients, this.deps.clock());
    });
    return chosen.kid === keyId;
  }

  private lookUp(keyId: string): Promise<Lookup> {
    let pending = this.inFlight.get(keyId);
    if (!pending) {
      pending = this.fetchKey(keyId).finally(() => this.inFlight.delete(keyId));
      this.inFlight.set(keyId, pending);
    }
    return pending;
  }

  private async fetchKey(keyId: string): Promise<Lookup> {
    const url = new URL(keyId, this.baseUrl);
    const now = () => this.deps.clock();
    let lookup: Lookup;
    let keepMs: number;
    try {
      const response = await this.http.request(url);
      if (response.status === 404 || response.status === 403) {
        lookup = { notFound: true };
        keepMs = this.config.notFoundCacheMs;
      } else if (response.status !== 200) {
        throw new Error(`answered ${response.status}`);
      } else {
        const key = createPublicKey(response.body);
        lookup = { key: { key, algorithm: verificationAlgorithmOf(key) } };
        keepMs = this.config.cacheDurationMs;
      }
    } catch (error) {
      const reason = error instanceof OutboundHttpError ? error.reason : (error as Error).message;
      const failure = new Error(`${loggableUrl(url)}: ${reason}`, { cause: error });
      this.deps.logger.warn({ err: failure.message }, 'public key fetch failed');
      lookup = { failure };
      keepMs = FAILURE_CACHE_MS;
    }
    ('key' in lookup ? this.keys : this.misses).set(keyId, lookup, now() + keepMs);
    return lookup;
  }
}
