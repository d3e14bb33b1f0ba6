// Keys from any JWKS URL (an OIDC provider, Google IAP, Pomerium, Cloudflare Access's
// /cdn-cgi/access/certs, whose `public_certs` PEMs are used beside its JWKs), or from the
// `jwks_uri` of an OIDC discovery document. The set is fetched before the verifier reports
// ready and refreshed in the background before its lifetime (Cache-Control, capped at
// `refresh_interval`, at least `min_refetch_interval`) ends: a request never waits for a
// refresh. A kid the set does not hold triggers at most one refetch per
// `min_refetch_interval`, so a flood of unknown kids cannot flood the provider. While the provider cannot be reached, or serves garbage, the
// last good set stays in use; with no good set yet, requests get 503 and the fetch is
// retried with backoff until one arrives.
import { loggableUrl } from '../observability/loggableUrl';
import { X509Certificate } from 'node:crypto';
import { MAX_TIMER_MS } from '../config/duration';
import { OutboundHttpClient, type OutboundResponse } from '../http/OutboundHttpClient';
import type { OutboundHttpError } from '../http/OutboundHttpError';
import { verificationAlgorithmOf } from '../jwt/algorithms';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { httpFreshness } from './httpFreshness';
import { KeyNotFoundError, KeysUnavailableError, type KeyServer, type VerificationKey } from './KeyServer';
import { InvalidJwkError, verificationKeyFromJwk } from './verificationKeyFromJwk';
import type { KeyServerConfig } from './keyServerTypes';

export type JwksKeyServerConfig = Extract<KeyServerConfig, { type: 'jwks' }>;

const REQUEST_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 1024 * 1024;
const ACCEPT_JSON = { accept: 'application/json' };
/** A refresh starts when this share of the set's lifetime has passed. */
const REFRESH_AT = 0.8;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/** The keys of one document, and what was skipped in it. */
interface KeySet {
  keys: Map<string, VerificationKey>;
  skipped: { kid: unknown; reason: string }[];
}

export class JwksKeyServer implements KeyServer {
  private keys = new Map<string, VerificationKey>();
  private loaded = false;
  private freshUntil = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private refreshing?: Promise<void>;
  private lastFailure?: Error;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** The JWKS URL: configured, or read from the discovery document. */
  private jwksUrl?: URL;
  private readonly http = new OutboundHttpClient({ timeoutMs: REQUEST_TIMEOUT_MS, maxBodyBytes: MAX_BODY_BYTES, keepAliveTimeoutMs: 60_000 });
  private readonly issuers?: Set<string>;

  constructor(
    private readonly config: JwksKeyServerConfig,
    private readonly deps: { clock: Clock; logger: Logger },
  ) {
    this.issuers = config.issuers.length ? new Set(config.issuers) : undefined;
    this.jwksUrl = config.url;
  }

  /** A provider that is down at start is not fatal: the server is not ready and keeps trying. */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.refreshing?.catch(() => undefined);
    await this.http.close();
  }

  ready(): boolean {
    return this.loaded;
  }

  /** Fetches the set again now. */
  async reload(): Promise<void> {
    await this.refresh();
  }

  async getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    if (this.issuers && !this.issuers.has(issuer)) throw new KeyNotFoundError(issuer, keyId);
    const now = this.deps.clock();
    // Decided before a refresh of a stale set starts (which moves lastAttempt to now).
    const mayRefetch = now - this.lastAttempt >= this.config.minRefetchIntervalMs;
    if (now >= this.freshUntil) void this.refresh().catch(() => undefined);
    let key = this.keys.get(keyId);
    if (!key && this.loaded && (mayRefetch || this.refreshing)) {
      // A kid we do not know may be a new key of a rotation: look once, or wait for the fetch under way.
      await this.refresh().catch(() => undefined);
      key = this.keys.get(keyId);
    }
    if (!this.loaded) throw new KeysUnavailableError(`no key set yet: ${this.lastFailure?.message ?? 'still loading'}`, { cause: this.lastFailure });
    if (!key) throw new KeyNotFoundError(issuer, keyId);
    return key;
  }

  async getOnlyKey(issuer: string, algorithm: string): Promise<{ keyId: string; key: VerificationKey }> {
    if (this.issuers && !this.issuers.has(issuer)) throw new KeyNotFoundError(issuer, '');
    if (this.deps.clock() >= this.freshUntil) void this.refresh().catch(() => undefined);
    if (!this.loaded) throw new KeysUnavailableError(`no key set yet: ${this.lastFailure?.message ?? 'still loading'}`, { cause: this.lastFailure });
    const usable = [...this.keys].filter(([, key]) => key.algorithm === algorithm);
    // Several keys: which one signed is not said, and trying each would let a token pick.
    if (usable.length !== 1) throw new KeyNotFoundError(issuer, '');
    return { keyId: usable[0][0], key: usable[0][1] };
  }

  /** One fetch at a time; concurrent callers share it. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.fetchKeys()
      .then(
        (lifetime) => this.succeeded(lifetime),
        (error: Error) => {
          this.failed(error);
          throw error;
        },
      )
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private succeeded(lifetimeMs: number): void {
    this.failures = 0;
    this.lastFailure = undefined;
    this.freshUntil = this.deps.clock() + lifetimeMs;
    this.schedule(Math.max(FIRST_RETRY_MS, lifetimeMs * REFRESH_AT));
  }

  /** Remembers a failure; the last good set stays in use and the fetch is retried with backoff. */
  private failed(error: Error): void {
    this.lastFailure = error;
    this.failures++;
    this.freshUntil = this.lastAttempt + this.config.minRefetchIntervalMs;
    // One line per outage, then one per ten failures: an outage must not flood the log.
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.deps.logger.warn({ err: error.message, failures: this.failures, keptKeys: this.keys.size, ready: this.loaded }, 'key set refresh failed');
    }
    this.schedule(Math.min(FIRST_RETRY_MS * 2 ** (this.failures - 1), MAX_RETRY_MS, this.config.refreshIntervalMs));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    // A timer fires at once beyond its limit; refreshing sooner than a very long refresh_interval is harmless.
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), Math.min(delayMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  /** Fetches and installs the set; resolves with how long it may be used. */
  private async fetchKeys(): Promise<number> {
    this.lastAttempt = this.deps.clock();
    const url = this.jwksUrl ?? (this.jwksUrl = await this.discoverJwksUrl());
    const { body, freshness } = await this.fetchJson(url);
    const set = readKeySet(body);
    if (set.keys.size === 0) throw new Error(`${loggableUrl(url)}: the document holds no usable signing key`);
    if (set.skipped.length > 0) this.deps.logger.warn({ url: loggableUrl(url), skipped: set.skipped }, 'keys skipped in the key set');
    const added = [...set.keys.keys()].filter((kid) => !this.keys.has(kid));
    this.keys = set.keys;
    if (!this.loaded || added.length > 0) this.deps.logger.info({ url: loggableUrl(url), keys: [...set.keys.keys()] }, 'key set loaded');
    this.loaded = true;
    // no-cache or max-age=0 must not turn every request into a fetch: min_refetch_interval is the floor.
    return Math.max(Math.min(freshness ?? this.config.refreshIntervalMs, this.config.refreshIntervalMs), this.config.minRefetchIntervalMs);
  }

  /** OIDC Discovery §4.3: the document's issuer must be exactly the configured one. */
  private async discoverJwksUrl(): Promise<URL> {
    const discoveryUrl = this.config.discoveryUrl!;
    const { body } = await this.fetchJson(discoveryUrl);
    const { issuer, jwks_uri: jwksUri } = (body ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (issuer !== this.config.issuers[0]) {
      throw new Error(`${loggableUrl(discoveryUrl)}: the discovery document names issuer ${JSON.stringify(issuer)}, not ${JSON.stringify(this.config.issuers[0])}`);
    }
    if (typeof jwksUri !== 'string' || !/^https?:\/\//.test(jwksUri)) throw new Error(`${loggableUrl(discoveryUrl)}: the discovery document has no http(s) jwks_uri`);
    return new URL(jwksUri);
  }

  private async fetchJson(url: URL): Promise<{ body: unknown; freshness?: number }> {
    let response: OutboundResponse;
    try {
      response = await this.http.request(url, { headers: ACCEPT_JSON });
    } catch (error) {
      throw new Error(`${loggableUrl(url)}: ${(error as OutboundHttpError).reason}`, { cause: error });
    }
    if (response.status !== 200) throw new Error(`${loggableUrl(url)}: answered ${response.status}`);
    try {
      return { body: JSON.parse(response.body), freshness: httpFreshness(response.headers, this.deps.clock()) };
    } catch {
      throw new Error(`${loggableUrl(url)}: the answer is not JSON`);
    }
  }
}

/** The JWKs of `keys`, and the PEM certificates of Cloudflare's `public_cert(s)` for kids the JWKs lack. */
function readKeySet(document: unknown): KeySet {
  const { keys: jwks, public_cert: publicCert, public_certs: publicCerts } = (document ?? {}) as Record<string, unknown>;
  // Cloudflare's certs document may hold only public_cert/public_certs (seed 000's demo serves it so).
  if (!Array.isArray(jwks) && !Array.isArray(publicCerts) && !publicCert) throw new Error('the answer has no "keys" array (nor Cloudflare\'s "public_certs")');
  const set: KeySet = { keys: new Map(), skipped: [] };
  for (const jwk of Array.isArray(jwks) ? jwks : []) {
    const kid = (jwk as { kid?: unknown })?.kid;
    try {
      if (typeof kid !== 'string') throw new InvalidJwkError('the JWK has no kid');
      set.keys.set(kid, verificationKeyFromJwk(jwk, kid));
    } catch (error) {
      // Encryption keys are normal in a JWKS; anything else malformed is worth a line.
      if ((jwk as { use?: unknown })?.use !== 'enc') set.skipped.push({ kid, reason: (error as Error).message });
    }
  }
  const certificates = [...(Array.isArray(publicCerts) ? publicCerts : []), ...(publicCert ? [publicCert] : [])];
  for (const entry of certificates) {
    const { kid, cert } = (entry ?? {}) as { kid?: unknown; cert?: unknown };
    if (typeof kid !== 'string' || set.keys.has(kid)) continue;
    try {
      const key = new X509Certificate(String(cert)).publicKey;
      set.keys.set(kid, { key, algorithm: verificationAlgorithmOf(key) });
    } catch (error) {
      set.skipped.push({ kid, reason: `public certificate unusable: ${(error as Error).message}` });
    }
  }
  return set;
}
