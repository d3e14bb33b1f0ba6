// One JSON line per request, written when its answer is done: who reached what, with what
// outcome. The path is the normalised one without its query (which may hold a token), the
// client the address behind trusted proxies; forward-auth lines describe the request the
// gateway asked about, not the gateway's subrequest.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Claims } from '../jwt/token';
import type { Logger } from './logger';

/** What a proxy learns about a request while it handles it; filled in as it goes. */
export interface AccessEntry {
  method: string;
  path: string;
  client: string;
  /** The stable refusal code (e.g. `exp`, `replayed`, `ambiguous_token`); absent when let through. */
  code?: string;
  /** The verified token's claims, for `iss` and the identity claim. */
  claims?: Claims;
  /** The upstream the request went to. */
  upstream?: string;
}

export interface AccessLogConfig {
  enabled: boolean;
  /** The claim logged as the identity; `sub` by default. */
  identityClaim: string;
}

export const DEFAULT_ACCESS_LOG: AccessLogConfig = { enabled: true, identityClaim: 'sub' };

export class AccessLog {
  private readonly on: boolean;

  constructor(
    private readonly logger: Logger,
    private readonly proxy: string,
    private readonly config: AccessLogConfig = DEFAULT_ACCESS_LOG,
  ) {
    this.on = config.enabled && logger.isLevelEnabled('info');
  }

  /** Logs `entry` once `res` is done (answered, or cut short); the entry may still be filled in until then. */
  track(res: ServerResponse, entry: AccessEntry, startedAt: number): void {
    if (!this.on) return;
    const socket: Socket | null = res.socket;
    const bytesBefore = socket?.bytesWritten ?? 0;
    res.once('close', () => {
      const { claims } = entry;
      const identity = claims?.[this.config.identityClaim];
      this.logger.info(
        {
          proxy: this.proxy,
          method: entry.method,
          path: entry.path,
          status: res.headersSent ? res.statusCode : 0,
          code: entry.code,
          iss: typeof claims?.iss === 'string' ? claims.iss : undefined,
          [this.config.identityClaim]: typeof identity === 'string' || typeof identity === 'number' ? identity : undefined,
          client: entry.client,
          upstream: entry.upstream,
          durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
          bytes: (socket?.bytesWritten ?? bytesBefore) - bytesBefore,
        },
        'access',
      );
    });
  }
}
