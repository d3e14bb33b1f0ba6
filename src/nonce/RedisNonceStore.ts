// The replay store shared by every process: one atomic `SET key 1 NX PXAT exp` per claim.
// Fails closed: while Redis is unreachable claims are refused at once, and it reconnects by itself.
// An outage is logged when it begins and when it ends (with how many claims it refused), never per claim.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { NonceStorageConfig } from '../config/types';
import type { Logger } from '../observability/logger';
import { systemClock, type Clock } from '../util/clock';
import { NonceStoreUnavailableError, type NonceStore } from './NonceStore';

export type RedisNonceStorageConfig = Extract<NonceStorageConfig, { type: 'redis' }>;

type ConnectionState = 'connecting' | 'ready' | 'lost';

/** From the first failure (a lost connection, or a command failing on a live one) to the next success. */
interface Outage {
  sinceMs: number;
  refused: number;
}

export class RedisNonceStore implements NonceStore {
  private client?: Redis | Cluster;
  private state: ConnectionState = 'connecting';
  private lastError?: Error;
  private outage?: Outage;

  constructor(
    private readonly config: RedisNonceStorageConfig,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    if (config.clusterNodes && config.db !== 0) {
      throw new RangeError(`redis nonce store: db ${config.db} cannot be used with a Redis Cluster, which has only db 0`);
    }
  }

  /** True while claims can reach Redis. */
  get connected(): boolean {
    return this.state === 'ready';
  }

  /**
   * Connects, waiting at most about connectTimeoutMs. Redis being down does not fail the
   * start: the store logs it, refuses claims, and keeps reconnecting in the background.
   */
  async start(): Promise<void> {
    if (this.client) return;
    const client = this.createClient();
    this.client = client;
    this.state = 'connecting';
    client.on('ready', this.onReady);
    client.on('error', this.onError);
    client.on('close', this.onClose);
    await new Promise<void>((resolve) => {
      const settle = (): void => {
        clearTimeout(timer);
        client.off('ready', settle);
        client.off('error', settle);
        resolve();
      };
      const timer = setTimeout(settle, this.config.connectTimeoutMs);
      client.on('ready', settle);
      client.on('error', settle);
    });
    // Some failures (a Cluster whose nodes keep dropping out) never emit 'error'.
    if (this.state === 'connecting') {
      this.state = 'lost';
      this.beginOutage();
      this.logger.error({ redis: this.where() }, `redis nonce store not connected after ${this.config.connectTimeoutMs} ms: refusing tokens while retrying`);
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    client.off('ready', this.onReady);
    client.off('close', this.onClose);
    // Keep the error listener: a late socket error must not become an unhandled 'error' event.
    client.disconnect();
  }

  async claim(jti: string, expiresAtMs: number): Promise<boolean> {
    const client = this.client;
    if (!client) throw new NonceStoreUnavailableError('redis nonce store: not started');
    let reply: string | null;
    try {
      reply = await client.set(this.config.keyPrefix + jti, '1', 'PXAT', Math.ceil(expiresAtMs), 'NX');
    } catch (error) {
      // A command failing on a live connection (Redis hung, a timeout) starts an outage too.
      if (!this.outage) {
        this.beginOutage();
        this.logger.error({ err: error, redis: this.where() }, 'redis nonce store commands are failing: refusing tokens until Redis answers');
      }
      this.outage!.refused++;
      throw new NonceStoreUnavailableError(`redis nonce store unavailable: ${(error as Error).message}`, { cause: error, outageReported: true });
    }
    if (this.outage) this.endOutage('redis nonce store answering again: accepting tokens');
    return reply === 'OK';
  }

  private beginOutage(): void {
    this.outage ??= { sinceMs: this.clock(), refused: 0 };
  }

  /** Logs the end of the outage with what it cost, once. */
  private endOutage(message: string): void {
    const outage = this.outage;
    if (!outage) return;
    this.outage = undefined;
    this.logger.info({ redis: this.where(), refusedTokens: outage.refused, outageMs: this.clock() - outage.sinceMs }, message);
  }

  private createClient(): Redis | Cluster {
    const { config } = this;
    // Fail fast rather than queue: a claim waiting for a reconnect would hold its request.
    const common = {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      // Commands cut off by a lost connection fail at once instead of being resent later.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: config.connectTimeoutMs,
      commandTimeout: config.commandTimeoutMs,
      ...(config.password !== undefined && { password: config.password }),
    } satisfies RedisOptions;
    if (config.clusterNodes) {
      const { enableOfflineQueue, enableAutoPipelining, ...redisOptions } = common;
      const options: ClusterOptions = { enableOfflineQueue, enableAutoPipelining, clusterRetryStrategy: reconnectDelay, redisOptions };
      return new Cluster(config.clusterNodes, options);
    }
    const options: RedisOptions = {
      ...common,
      retryStrategy: reconnectDelay,
      // With a URL, db 0 means "what the URL says" (redis://host:port/3); a non-zero db overrides it.
      ...(config.db !== 0 && { db: config.db }),
    };
    if (config.sentinels) {
      return new Redis({ ...options, sentinels: config.sentinels, name: config.sentinelName, sentinelRetryStrategy: reconnectDelay });
    }
    return new Redis(config.url ?? 'redis://127.0.0.1:6379', options);
  }

  // Connection changes are logged once each, never per claim.
  private readonly onReady = (): void => {
    const previous = this.state;
    this.state = 'ready';
    this.lastError = undefined;
    if (previous === 'lost') this.endOutage('redis nonce store reconnected: accepting tokens again');
    else if (previous === 'connecting') this.logger.info({ redis: this.where() }, 'redis nonce store connected');
  };

  private readonly onError = (error: Error): void => {
    this.lastError = error;
    if (this.state === 'connecting') {
      this.state = 'lost';
      this.beginOutage();
      this.logger.error({ err: error, redis: this.where() }, 'redis nonce store cannot reach Redis: refusing tokens while retrying');
    } else {
      this.logger.debug({ err: error, redis: this.where() }, 'redis nonce store connection error');
    }
  };

  private readonly onClose = (): void => {
    if (this.state !== 'ready') return;
    this.state = 'lost';
    this.beginOutage();
    this.logger.error({ err: this.lastError, redis: this.where() }, 'redis nonce store lost its connection: refusing tokens until Redis is back');
  };

  /** Where Redis is, for logs; never the password. */
  private where(): string {
    const { config } = this;
    if (config.clusterNodes) return `cluster ${config.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(',')}`;
    if (config.sentinels) return `sentinel ${config.sentinelName} via ${config.sentinels.map(({ host, port }) => `${host}:${port}`).join(',')}`;
    const url = new URL(config.url ?? 'redis://127.0.0.1:6379');
    url.password = '';
    url.username = '';
    return url.toString();
  }
}

/** Exponential backoff from 100 ms to 1 s, with jitter so that many processes do not reconnect in step. */
function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1000) + Math.floor(Math.random() * 100);
}
