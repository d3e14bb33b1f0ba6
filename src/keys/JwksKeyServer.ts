// Keys from any JWKS URL (an OIDC provider, Cloudflare Access's /cdn-cgi/access/certs…).
// The set is refreshed when its cache lifetime ends (Cache-Control, capped at
// `refresh_interval`) and, for a kid it does not hold, at most once per
// `min_refetch_interval`: a flood of unknown kids cannot flood the provider. While the
// provider cannot be reached the last good set stays in use.
import { Agent, request } from 'undici';
import type { KeyServerConfig } from '../config/types';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { httpFreshness } from './httpFreshness';
import { KeyNotFoundError, KeyServerError, type KeyServer, type VerificationKey } from './KeyServer';
import { verificationKeyFromJwk } from './verificationKeyFromJwk';

export type JwksKeyServerConfig = Extract<KeyServerConfig, { type: 'jwks' }>;

const REQUEST_TIMEOUT_MS = 5000;
const MAX_BODY_BYTES = 1024 * 1024;

export class JwksKeyServer implements KeyServer {
  private keys = new Map<string, Promise<VerificationKey>>();
  private loaded = false;
  private freshUntil = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private refreshing?: Promise<void>;
  private lastFailure?: KeyServerError;
  private readonly agent = new Agent({ keepAliveTimeout: 60_000 });
  private readonly issuers?: Set<string>;

  constructor(
    private readonly config: JwksKeyServerConfig,
    private readonly deps: { clock: Clock; logger: Logger },
  ) {
    this.issuers = config.issuers.length ? new Set(config.issuers) : undefined;
  }

  /** A provider that is down at start is not fatal: tokens are refused until the keys load. */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.agent.close();
  }

  /** Fetches the set again now. */
  async reload(): Promise<void> {
    await this.refresh();
  }

  async getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    if (this.issuers && !this.issuers.has(issuer)) throw new KeyNotFoundError(issuer, keyId);
    const now = this.deps.clock();
    const unknownKid = !this.keys.has(keyId) && now - this.lastAttempt >= this.config.minRefetchIntervalMs;
    if (now >= this.freshUntil || unknownKid) await this.refresh().catch(() => undefined);
    if (!this.loaded) throw this.lastFailure ?? new KeyServerError(`JWKS ${this.config.url.href}: not loaded yet`);
    const key = this.keys.get(keyId);
    if (!key) throw new KeyNotFoundError(issuer, keyId);
    return key;
  }

  /** Remembers a failure; the next attempt waits min_refetch_interval, the last good set stays in use. */
  private failed(message: string, cause?: unknown): KeyServerError {
    this.lastFailure = new KeyServerError(message, { cause });
    this.freshUntil = this.lastAttempt + this.config.minRefetchIntervalMs;
    this.deps.logger.warn({ err: this.lastFailure, keptKeys: this.keys.size }, 'JWKS refresh failed');
    return this.lastFailure;
  }

  /** One fetch at a time; concurrent callers share it. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.fetchKeys().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetchKeys(): Promise<void> {
    this.lastAttempt = this.deps.clock();
    const url = this.config.url.href;
    let set: unknown;
    let freshness: number | undefined;
    try {
      const response = await request(url, { dispatcher: this.agent, headers: { accept: 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`answered ${response.statusCode}`);
      if (text.length > MAX_BODY_BYTES) throw new Error(`answered more than ${MAX_BODY_BYTES} bytes`);
      set = JSON.parse(text);
      freshness = httpFreshness(response.headers, this.deps.clock());
    } catch (error) {
      throw this.failed(`JWKS ${url}: ${(error as Error).message}`, error);
    }
    const entries = (set as { keys?: unknown })?.keys;
    if (!Array.isArray(entries)) throw this.failed(`JWKS ${url}: the answer has no "keys" array`);
    const keys = new Map<string, Promise<VerificationKey>>();
    for (const jwk of entries) {
      const kid = (jwk as { kid?: unknown })?.kid;
      if (typeof kid !== 'string') continue;
      try {
        keys.set(kid, Promise.resolve(verificationKeyFromJwk(jwk, kid)));
      } catch (error) {
        // Encryption keys and unsupported types are normal in a JWKS: skip them.
        this.deps.logger.debug({ kid, reason: (error as Error).message }, 'JWKS key skipped');
      }
    }
    this.keys = keys;
    this.loaded = true;
    this.lastFailure = undefined;
    this.freshUntil = this.deps.clock() + Math.min(freshness ?? this.config.refreshIntervalMs, this.config.refreshIntervalMs);
    this.deps.logger.info({ url, keys: [...keys.keys()] }, 'JWKS loaded');
  }
}
