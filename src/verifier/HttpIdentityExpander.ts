// The expanded identity of a token from an HTTP endpoint (Cloudflare: GET
// <team>/cdn-cgi/access/get-identity with the cookie CF_Authorization=<token>): fetched once
// per token and kept until the token's exp in a bounded LRU; concurrent requests with one
// token share one fetch. An endpoint that is down, slower than the timeout, or answers other
// than 200 with a JSON object is a failure, never kept: a required identity refuses the
// request (503), an optional one lets it go on without `identity`.
import { loggableUrl } from '../observability/loggableUrl';
import { OutboundHttpClient, type OutboundResponse } from '../http/OutboundHttpClient';
import type { OutboundHttpError } from '../http/OutboundHttpError';
import type { Claims } from '../jwt/token';
import { ExpiringLruCache } from '../keys/ExpiringLruCache';
import type { Logger } from '../observability/logger';
import type { ProxyMetrics } from '../observability/metrics';
import type { Clock } from '../util/clock';
import { IdentityUnavailableError, isJsonObject, type Identity, type IdentityExpander } from './IdentityExpander';
import type { IdentityConfig } from './IdentityExpander';

/** Cloudflare's get-identity document is a few KiB; even with many groups and posture checks far below this. */
const MAX_BODY_BYTES = 1024 * 1024;
const ACCESS_COOKIE = 'CF_Authorization';

export interface HttpIdentityExpanderDeps {
  clock: Clock;
  logger: Logger;
  /** The verifier's name in metrics. */
  name: string;
  metrics?: ProxyMetrics;
}

export class HttpIdentityExpander implements IdentityExpander {
  private readonly identities: ExpiringLruCache<Identity>;
  /** The fetch under way per token: the single flight. */
  private readonly fetches = new Map<string, Promise<Identity>>();
  private readonly http: OutboundHttpClient;
  private failing = false;

  constructor(
    private readonly config: IdentityConfig,
    private readonly deps: HttpIdentityExpanderDeps,
  ) {
    this.identities = new ExpiringLruCache(config.cacheEntries);
    this.http = new OutboundHttpClient({ timeoutMs: config.timeoutMs, maxBodyBytes: MAX_BODY_BYTES, keepAliveTimeoutMs: 60_000 });
  }

  async start(): Promise<void> {
    const { url, sendToken, required, cacheEntries, timeoutMs } = this.config;
    this.deps.logger.info({ url: loggableUrl(url), sendToken, required, cacheEntries, timeoutMs }, "identity expansion on: each token's identity is fetched once and kept until its exp");
  }

  /** Waits for the fetches under way (each bounded by the timeout). */
  async stop(): Promise<void> {
    await this.http.close();
  }

  /** `claims` are verified: their exp bounds how long the identity is kept. */
  async expand(token: string, claims: Claims): Promise<Identity | undefined> {
    const cached = this.identities.get(token, this.deps.clock());
    if (cached) {
      this.count('cached');
      return cached;
    }
    let fetch = this.fetches.get(token);
    if (fetch) {
      this.count('joined');
    } else {
      fetch = this.fetchIdentity(token)
        .then((identity) => {
          this.identities.set(token, identity, (claims.exp as number) * 1000);
          this.succeeded();
          return identity;
        })
        .catch((error: Error) => {
          this.failed(error);
          throw error;
        })
        .finally(() => this.fetches.delete(token));
      this.fetches.set(token, fetch);
    }
    try {
      return await fetch;
    } catch (error) {
      if (this.config.required) throw new IdentityUnavailableError((error as Error).message, { cause: error });
      return undefined;
    }
  }

  private count(result: 'cached' | 'fetched' | 'joined' | 'failed'): void {
    this.deps.metrics?.identityLookedUp(this.deps.name, result);
  }

  private succeeded(): void {
    this.count('fetched');
    if (!this.failing) return;
    this.failing = false;
    this.deps.logger.info({ url: loggableUrl(this.config.url) }, 'identity endpoint answering again');
  }

  /** One line when the endpoint starts failing, then debug lines: an outage must not flood the log. */
  private failed(error: Error): void {
    this.count('failed');
    const log = this.failing ? this.deps.logger.debug : this.deps.logger.warn;
    log.call(this.deps.logger, { err: error.message, required: this.config.required }, 'identity fetch failed');
    this.failing = true;
  }

  private async fetchIdentity(token: string): Promise<Identity> {
    const { url, sendToken } = this.config;
    const credentials: Record<string, string> = sendToken === 'cookie' ? { cookie: `${ACCESS_COOKIE}=${token}` } : { authorization: `Bearer ${token}` };
    let response: OutboundResponse;
    try {
      response = await this.http.request(url, { headers: { accept: 'application/json', ...credentials } });
    } catch (error) {
      throw new Error(`${loggableUrl(url)}: ${(error as OutboundHttpError).reason}`, { cause: error });
    }
    if (response.status !== 200) throw new Error(`${loggableUrl(url)}: answered ${response.status}`);
    let identity: unknown;
    try {
      identity = JSON.parse(response.body);
    } catch {
      throw new Error(`${loggableUrl(url)}: the answer is not JSON`);
    }
    if (!isJsonObject(identity)) throw new Error(`${loggableUrl(url)}: the answer is not a JSON object`);
    return identity;
  }
}
