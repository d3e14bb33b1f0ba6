// The verifier's upstreams: one keep-alive pool each, chosen round robin; an upstream
// that fails to answer is skipped for a while, then tried again.
import { Pool } from 'undici';
import type { Clock } from '../util/clock';
import { normalizePath } from './normalizePath';
import { readTrustedCertificates } from './trustedCertificates';

/** How long the verifier waits for an upstream before answering 504. */
export interface UpstreamTimeouts {
  /** To connect, TLS handshake included. */
  connectMs: number;
  /** From the request sent to the response head; 0: no limit. */
  responseMs: number;
  /** The longest pause inside the response body (the answer is then cut); 0: no limit, for event streams. */
  bodyMs: number;
}

export interface Upstream {
  /** As configured, for logs. */
  readonly name: string;
  readonly origin: string;
  readonly pool: Pool;
  readonly basePath: string;
  readonly baseQuery: string;
  downUntil: number;
}

export interface UpstreamOptions {
  failureTimeoutMs: number;
  clock: Clock;
  insecureSkipVerify: boolean;
  /** PEM files that replace the system roots for https upstreams. */
  trustedCertificates: string[];
  timeouts: UpstreamTimeouts;
}

/** Joins two URL paths with exactly one slash, as Go's singleJoiningSlash does. */
export function joinPaths(base: string, path: string): string {
  const baseSlash = base.endsWith('/');
  const pathSlash = path.startsWith('/');
  if (baseSlash && pathSlash) return base + path.slice(1);
  if (!baseSlash && !pathSlash) return `${base}/${path}`;
  return base + path;
}

/**
 * The upstream request target: base path joined with the request path, base query first. The
 * request path is normalised first (no dot segment is left), so the target stays under the base path.
 */
export function upstreamTarget(upstream: Pick<Upstream, 'basePath' | 'baseQuery'>, requestUrl: string): string {
  const queryAt = requestUrl.indexOf('?');
  return joinedTarget(upstream, normalizePath(queryAt === -1 ? requestUrl : requestUrl.slice(0, queryAt)), queryAt === -1 ? '' : requestUrl.slice(queryAt + 1));
}

/** The upstream request target for a path already normalised and a query (without "?"). */
export function joinedTarget(upstream: Pick<Upstream, 'basePath' | 'baseQuery'>, path: string, query: string): string {
  const joinedPath = upstream.basePath ? joinPaths(upstream.basePath, path) : path;
  const joinedQuery = upstream.baseQuery && query ? `${upstream.baseQuery}&${query}` : upstream.baseQuery + query;
  return joinedQuery ? `${joinedPath}?${joinedQuery}` : joinedPath;
}

function createUpstream(name: string, options: UpstreamOptions, ca: string[] | undefined): Upstream {
  const { timeouts } = options;
  const pool = (origin: string, connect: Exclude<Pool.Options['connect'], (...args: never) => unknown>) =>
    new Pool(origin, {
      connect: { ...connect, timeout: timeouts.connectMs },
      headersTimeout: timeouts.responseMs,
      bodyTimeout: timeouts.bodyMs,
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  if (name.startsWith('unix:')) {
    const socketPath = name.slice('unix:'.length);
    return { name, origin: 'http://localhost', pool: pool('http://localhost', { socketPath }), basePath: '', baseQuery: '', downUntil: 0 };
  }
  const url = new URL(name);
  const connect = url.protocol === 'https:' ? { ca, rejectUnauthorized: !options.insecureSkipVerify } : undefined;
  return {
    name,
    origin: url.origin,
    pool: pool(url.origin, connect),
    basePath: url.pathname,
    baseQuery: url.search.slice(1),
    downUntil: 0,
  };
}

export class UpstreamSet {
  private readonly upstreams: Upstream[];
  private next = 0;

  constructor(
    names: string[],
    private readonly options: UpstreamOptions,
  ) {
    const ca = readTrustedCertificates(options.trustedCertificates, 'upstream_trusted_certificates');
    this.upstreams = names.map((name) => createUpstream(name, options, ca));
  }

  get size(): number {
    return this.upstreams.length;
  }

  /** The next healthy upstream in turn; when none is healthy, the one that recovers first. */
  pick(exclude?: Upstream): Upstream {
    const now = this.options.clock();
    const count = this.upstreams.length;
    for (let tried = 0; tried < count; tried++) {
      const upstream = this.upstreams[this.next];
      this.next = (this.next + 1) % count;
      if (upstream.downUntil <= now && upstream !== exclude) return upstream;
    }
    const candidates = this.upstreams.filter((upstream) => upstream !== exclude);
    return (candidates.length ? candidates : this.upstreams).reduce((a, b) => (b.downUntil < a.downUntil ? b : a));
  }

  markFailed(upstream: Upstream): void {
    upstream.downUntil = this.options.clock() + this.options.failureTimeoutMs;
  }

  markHealthy(upstream: Upstream): void {
    upstream.downUntil = 0;
  }

  destroy(): Promise<void> {
    return Promise.all(this.upstreams.map((upstream) => upstream.pool.destroy())).then(() => undefined);
  }
}
