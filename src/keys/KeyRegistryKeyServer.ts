// Key server `keyregistry`: GET <registry>/services/<issuer>/keys/<kid>, kept min(HTTP freshness, cacheDurationMs),
// cacheDurationMs without caching headers. The cap (Go's RFC 7234 cache has none) bounds how long an expired key stays trusted.
// While the registry is unreachable or answers 5xx, a known key stays usable for staleIfErrorMs past that, never past the
// max-age the registry gave it (which ends with the key's expiry or rotation grace); an outage with no such key is
// KeyServerUnavailableError (503), not a refusal of the token.
import { OutboundHttpClient, type OutboundResponse } from '../http/OutboundHttpClient';
import type { OutboundHttpError } from '../http/OutboundHttpError';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { ExpiringLruCache } from './ExpiringLruCache';
import { httpFreshness } from './httpFreshness';
import { KeyExpiredError, KeyNotFoundError, KeyServerError, KeyServerUnavailableError, type KeyServer, type VerificationKey } from './KeyServer';
import { REGISTRY_USER_AGENT, registryKeyPath } from './registryKeyPath';
import { verificationKeyFromJwk } from './verificationKeyFromJwk';
import type { KeyServerConfig } from './keyServerTypes';

export type KeyRegistryKeyServerConfig = Extract<KeyServerConfig, { type: 'keyregistry' }>;

export interface KeyRegistryKeyServerDeps {
  clock: Clock;
  logger: Logger;
  /** Whole-request limit (connect, headers and body). Default 5 s. */
  requestTimeoutMs?: number;
  /** Bound of each cache (keys, and answers 404/403). Default 10 000. */
  maxEntries?: number;
  /** Connections kept to the registry; more concurrent lookups queue. Default 16. */
  connections?: number;
}

// A JWK is well under 4 KiB; a bigger body is a broken or hostile registry.
const MAX_BODY_BYTES = 64 * 1024;
// The Go client's User-Agent: registries that log or filter on it see the same client.
const REQUEST_HEADERS = { 'user-agent': REGISTRY_USER_AGENT, accept: 'application/json' };

/** How long a failed lookup (registry down, 5xx, bad JWK) is answered from memory. */
const FAILURE_CACHE_MS = 1000;

interface CachedKey {
  /** Settled, so a cache hit hands out the same object without allocating. */
  key: Promise<VerificationKey>;
  /** Until then the key is used without asking the registry. */
  freshUntil: number;
  /** Until then (the entry's expiry) it is still used while the registry is down. */
  usableUntil: number;
}

export class KeyRegistryKeyServer implements KeyServer {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly connections: number;
  /** Fetched keys, kept until the end of their use during an outage (stale_if_error). */
  private readonly keys: ExpiringLruCache<CachedKey>;
  // Kept apart from `keys` so a flood of unknown kids cannot evict the real keys. Registry
  // failures are remembered too, briefly, so an outage is not hit by every request.
  private readonly absences: ExpiringLruCache<KeyNotFoundError | KeyExpiredError | KeyServerError>;
  private readonly inFlight = new Map<string, Promise<VerificationKey>>();
  private http?: OutboundHttpClient;
  private purgeTimer?: NodeJS.Timeout;

  constructor(
    private readonly config: KeyRegistryKeyServerConfig,
    deps: KeyRegistryKeyServerDeps,
  ) {
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.requestTimeoutMs = deps.requestTimeoutMs ?? 5_000;
    this.connections = deps.connections ?? 16;
    this.keys = new ExpiringLruCache(deps.maxEntries ?? 10_000);
    this.absences = new ExpiringLruCache(deps.maxEntries ?? 10_000);
  }

  async start(): Promise<void> {
    // HTTPS uses Node's default trust store (plus NODE_EXTRA_CA_CERTS).
    this.http = new OutboundHttpClient({ timeoutMs: this.requestTimeoutMs, maxBodyBytes: MAX_BODY_BYTES, connections: this.connections });
    this.purgeTimer = setInterval(() => this.purge(), this.config.purgeIntervalMs);
    this.purgeTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
    const http = this.http;
    this.http = undefined;
    this.keys.clear();
    this.absences.clear();
    await http?.close();
  }

  /** Forgets every cached answer, so a revoked key is looked up again at once. */
  async reload(): Promise<void> {
    this.keys.clear();
    this.absences.clear();
  }

  getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    // Length-prefixed, so no (issuer, kid) pair can collide with another.
    const cacheKey = `${issuer.length}:${issuer}${keyId}`;
    const now = this.clock();
    const cached = this.keys.get(cacheKey, now);
    if (cached && now < cached.freshUntil) return cached.key;
    const absence = this.absences.get(cacheKey, now);
    if (absence) return absence instanceof KeyServerUnavailableError && cached ? cached.key : Promise.reject(absence);

    let lookup = this.inFlight.get(cacheKey);
    if (!lookup) {
      lookup = this.fetchKey(cacheKey, issuer, keyId)
        .catch((error: unknown) => this.failed(cacheKey, error))
        .finally(() => this.inFlight.delete(cacheKey));
      this.inFlight.set(cacheKey, lookup);
    }
    return lookup;
  }

  /** Remembers a failed lookup briefly; during an outage answers with the key still usable, if any. */
  private failed(cacheKey: string, error: unknown): Promise<VerificationKey> {
    if (!(error instanceof KeyServerError)) throw error;
    const now = this.clock();
    this.absences.set(cacheKey, error, now + FAILURE_CACHE_MS);
    const stale = error instanceof KeyServerUnavailableError ? this.keys.get(cacheKey, now) : undefined;
    if (!stale) {
      this.logger.warn({ err: error }, 'key registry lookup failed');
      throw error;
    }
    this.logger.warn({ err: error, usableUntil: new Date(stale.usableUntil).toISOString() }, 'key registry lookup failed; using the cached key meanwhile (stale_if_error)');
    return stale.key;
  }

  private purge(): void {
    const now = this.clock();
    this.keys.purge(now);
    this.absences.purge(now);
  }

  private async fetchKey(cacheKey: string, issuer: string, keyId: string): Promise<VerificationKey> {
    const http = this.http;
    if (!http) throw new KeyServerError('the keyregistry key server is not started');
    // "." and ".." would be read as path steps by the registry, and "" names nothing.
    if (['', '.', '..'].includes(issuer) || ['', '.', '..'].includes(keyId)) throw new KeyNotFoundError(issuer, keyId);

    const url = `${this.config.registry.origin}${registryKeyPath(this.config.registry, issuer, keyId)}`;
    let response: OutboundResponse;
    try {
      response = await http.request(new URL(url), { headers: REQUEST_HEADERS });
    } catch (error) {
      response = this.unanswered(url, error as OutboundHttpError);
    }
    const { status: statusCode, headers, body: text } = response;
    const receivedAt = this.clock();

    if (statusCode === 200) {
      let key: VerificationKey;
      try {
        key = verificationKeyFromJwk(JSON.parse(text), keyId);
      } catch (error) {
        throw new KeyServerError(`GET ${url} answered an unusable JWK: ${(error as Error).message}`, { cause: error });
      }
      const { cacheDurationMs, staleIfErrorMs } = this.config;
      const httpLifetime = httpFreshness(headers, receivedAt);
      const freshUntil = receivedAt + Math.min(httpLifetime ?? cacheDurationMs, cacheDurationMs);
      // The registry's max-age ends with the key's expiry or rotation grace: never used past it.
      const usableUntil = Math.max(freshUntil, Math.min(receivedAt + (httpLifetime ?? Infinity), freshUntil + staleIfErrorMs));
      if (freshUntil > receivedAt) this.keys.set(cacheKey, { key: Promise.resolve(key), freshUntil, usableUntil }, usableUntil);
      else this.keys.delete(cacheKey);
      return key;
    }
    if (statusCode === 404 || statusCode === 403) {
      // A verdict of the registry, not an outage: the key is no longer used at all.
      this.keys.delete(cacheKey);
      const error = statusCode === 404 ? new KeyNotFoundError(issuer, keyId) : new KeyExpiredError(issuer, keyId);
      if (this.config.notFoundCacheMs > 0) this.absences.set(cacheKey, error, receivedAt + this.config.notFoundCacheMs);
      this.logger.debug({ issuer, kid: keyId, status: statusCode }, 'key registry has no valid key');
      throw error;
    }
    const snippet = text.slice(0, 200).trim();
    const message = `GET ${url} answered ${statusCode}${snippet ? ` ${JSON.stringify(snippet)}` : ''}`;
    throw statusCode >= 500 ? new KeyServerUnavailableError(message) : new KeyServerError(message);
  }

  /**
   * A request without a usable answer, as the error to throw. An over-long answer other than 200 is
   * judged by its status alone: the answer without its body.
   */
  private unanswered(url: string, error: OutboundHttpError): OutboundResponse {
    const { code, reason, status } = error;
    if (code === 'ERR_OUTBOUND_REDIRECT') throw new KeyServerError(`GET ${url} ${reason}`);
    if (code === 'ERR_OUTBOUND_TOO_LARGE' && status === 200) throw new KeyServerError(`GET ${url} answered a body over ${MAX_BODY_BYTES} bytes, not a JWK`);
    if (code === 'ERR_OUTBOUND_TOO_LARGE') return { status: status!, headers: {}, body: '' };
    const failed = status === undefined ? `GET ${url} failed` : `GET ${url}: reading the ${status} answer failed`;
    throw new KeyServerUnavailableError(`${failed}: ${reason}`, { cause: error });
  }
}
