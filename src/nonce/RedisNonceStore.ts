// The replay store shared by every process: one atomic `SET key 1 NX PXAT exp` per claim, and with
// wait_replicas a `WAIT n timeout` sent in the same write, so the claim and its replication
// acknowledgement cost one round trip. Claims sent within one tick share one WAIT.
// Fails closed: while Redis is unreachable, refuses to keep nonces (a Cluster node given as url, an
// evicting maxmemory-policy) or its replicas do not acknowledge, claims are refused at once, and it
// recovers by itself. Each outage is logged when it begins and when it ends, never per claim.
import type { Cluster, Redis } from 'ioredis';
import { describeRedis, type RedisConnectionConfig } from '../redis/redisConnection';
import type { Logger } from '../observability/logger';
import { createRedisClient } from '../redis/createRedisClient';
import { isEvictingPolicy, readServerFacts } from '../redis/serverFacts';
import { systemClock, type Clock } from '../util/clock';
import { JwtproxyError } from '../util/JwtproxyError';
import { NonceStoreUnavailableError, type NonceStore } from './NonceStore';
import type { NonceStorageConfig } from './nonceStoreTypes';

export type RedisNonceStorageConfig = Extract<NonceStorageConfig, { type: 'redis' }>;

/** `checking`: connected, INFO not yet read. `unsuitable`: connected to a server that must not keep nonces. */
type ConnectionState = 'connecting' | 'checking' | 'ready' | 'unsuitable' | 'lost';

/** From the first failure (a lost connection, a failing command, missing acknowledgements) to the next success. */
interface Outage {
  sinceMs: number;
  refused: number;
}

interface PendingClaim {
  key: string;
  expiresAtMs: number;
  resolve: (claimed: boolean) => void;
  reject: (error: Error) => void;
}

/** Why a server must not keep nonces; the operator's fix is in the message. */
class UnsuitableServerError extends JwtproxyError {
  readonly code = 'ERR_REDIS_UNSUITABLE';
}

export class RedisNonceStore implements NonceStore {
  private client?: Redis | Cluster;
  private state: ConnectionState = 'connecting';
  private lastError?: Error;
  private outage?: Outage;
  private unsuitable?: UnsuitableServerError;
  /** Claims waiting for this tick's pipeline (wait_replicas only). */
  private batch: PendingClaim[] = [];
  /** Resolves once the server check after a (re)connection has run. */
  private checked?: Promise<void>;

  constructor(
    private readonly config: RedisNonceStorageConfig,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    if (config.clusterNodes && config.db !== 0) {
      throw new RangeError(`redis nonce store: db ${config.db} cannot be used with a Redis Cluster, which has only db 0`);
    }
  }

  /** True while claims can reach a Redis that may keep them. */
  get connected(): boolean {
    return this.state === 'ready';
  }

  /** Readiness follows the connection: a load balancer sends no token to an instance that would answer 503. */
  ready(): boolean {
    return this.connected;
  }

  /**
   * Connects, waiting at most about connectTimeoutMs. Redis being down does not fail the start:
   * the store logs it, refuses claims, and keeps reconnecting in the background. A server that
   * must not keep nonces (a Cluster node given as url, an evicting policy) does fail it.
   */
  async start(): Promise<void> {
    if (this.client) return;
    const client = createRedisClient(this.config, {
      // Fail fast rather than queue: a claim waiting for a reconnect would hold its request.
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      // Commands cut off by a lost connection fail at once instead of being resent later.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: this.config.connectTimeoutMs,
      commandTimeout: this.config.commandTimeoutMs,
      retryStrategy: reconnectDelay,
      clusterRetryStrategy: reconnectDelay,
    });
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
    await this.checked;
    if ((this.state as ConnectionState) === 'unsuitable') {
      await this.stop();
      throw this.unsuitable!;
    }
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

  claim(jti: string, expiresAtMs: number): Promise<boolean> {
    const client = this.client;
    if (!client) return Promise.reject(new NonceStoreUnavailableError('redis nonce store: not started'));
    if (this.state === 'unsuitable') return Promise.reject(this.refusal(this.unsuitable!));
    const key = this.config.keyPrefix + jti;
    if (this.config.waitReplicas === 0) {
      return client.set(key, '1', 'PXAT', Math.ceil(expiresAtMs), 'NX').then(
        (reply) => this.answered(reply === 'OK'),
        (error: Error) => Promise.reject(this.failed(error)),
      );
    }
    return new Promise<boolean>((resolve, reject) => {
      if (this.batch.length === 0) process.nextTick(this.flush);
      this.batch.push({ key, expiresAtMs, resolve, reject });
    });
  }

  /** Sends this tick's claims with their WAIT: one pipeline (per claim on a Cluster, whose pipelines stay on one slot's node). */
  private readonly flush = (): void => {
    const batch = this.batch;
    this.batch = [];
    const client = this.client;
    if (!client) {
      for (const claim of batch) claim.reject(new NonceStoreUnavailableError('redis nonce store: stopped'));
      return;
    }
    if (this.config.clusterNodes) for (const claim of batch) void this.claimAcknowledged(client, [claim]);
    else void this.claimAcknowledged(client, batch);
  };

  private async claimAcknowledged(client: Redis | Cluster, claims: PendingClaim[]): Promise<void> {
    const { waitReplicas, waitTimeoutMs } = this.config;
    const pipeline = client.pipeline();
    for (const claim of claims) pipeline.set(claim.key, '1', 'PXAT', Math.ceil(claim.expiresAtMs), 'NX');
    pipeline.wait(waitReplicas, waitTimeoutMs);
    let replies: [Error | null, unknown][];
    try {
      replies = (await pipeline.exec()) ?? [];
    } catch (error) {
      const refusal = this.failed(error as Error);
      for (const claim of claims) claim.reject(refusal);
      return;
    }
    const [waitError, acknowledged] = replies[claims.length] ?? [new Error('no reply to WAIT')];
    const failure = replies.slice(0, claims.length).find(([error]) => error)?.[0] ?? waitError;
    if (failure) {
      for (const claim of claims) claim.reject(this.failed(failure));
      return;
    }
    if ((acknowledged as number) < waitReplicas) {
      // Not acknowledged: the nonce may vanish in a failover, so the token is refused, not counted.
      // Our own claims are taken back so that the client's retry can pass once replicas answer.
      const ours = claims.filter((_, index) => replies[index][1] === 'OK').map((claim) => claim.key);
      if (ours.length > 0) client.del(...ours).catch(() => undefined);
      const refusal = this.failed(
        new Error(`${acknowledged} of ${waitReplicas} replicas acknowledged the claim within ${waitTimeoutMs} ms (wait_replicas, wait_timeout)`),
        'redis nonce store: replicas are not acknowledging claims: refusing tokens until they do',
      );
      for (const claim of claims) claim.reject(refusal);
      return;
    }
    for (const [index, claim] of claims.entries()) claim.resolve(this.answered(replies[index][1] === 'OK'));
  }

  private answered(claimed: boolean): boolean {
    if (this.outage && this.state === 'ready') this.endOutage('redis nonce store answering again: accepting tokens');
    return claimed;
  }

  /** A command failing on a live connection (Redis hung, a timeout, no acknowledgement) starts an outage too. */
  private failed(error: Error, message = 'redis nonce store commands are failing: refusing tokens until Redis answers'): NonceStoreUnavailableError {
    if (!this.outage) {
      this.beginOutage();
      this.logger.error({ err: error, redis: this.where() }, message);
    }
    return this.refusal(error);
  }

  private refusal(error: Error): NonceStoreUnavailableError {
    this.outage ??= { sinceMs: this.clock(), refused: 0 };
    this.outage.refused++;
    return new NonceStoreUnavailableError(`redis nonce store unavailable: ${error.message}`, { cause: error, outageReported: true });
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

  /**
   * After every (re)connection: is this a server that may keep nonces? A Cluster node reached
   * as one server answers MOVED for most keys; an evicting policy drops nonces when memory runs
   * short, and a dropped nonce is a replay accepted.
   */
  private async checkServer(client: Redis | Cluster): Promise<UnsuitableServerError | undefined> {
    let facts;
    try {
      facts = await readServerFacts(client);
    } catch (error) {
      // INFO failing on a fresh connection is a connection problem: the reconnection will check again.
      this.logger.debug({ err: error, redis: this.where() }, 'redis nonce store could not read INFO');
      return undefined;
    }
    if (facts === undefined) {
      this.logger.warn({ redis: this.where() }, 'redis nonce store cannot read INFO (not permitted): make sure its maxmemory-policy is noeviction, or nonces may be evicted and their tokens replayed');
      return undefined;
    }
    if (!this.config.clusterNodes && facts.some((server) => server.clusterEnabled)) {
      return new UnsuitableServerError(
        `redis nonce store: ${this.where()} is a Redis Cluster node, which answers MOVED for keys of other nodes' slots: give its nodes as cluster: [host:port, …] instead of url`,
      );
    }
    const evicting = facts.find((server) => isEvictingPolicy(server.maxmemoryPolicy));
    if (evicting && !this.config.acceptEvictingPolicy) {
      return new UnsuitableServerError(
        `redis nonce store: ${this.where()} has maxmemory-policy ${evicting.maxmemoryPolicy}, which drops nonces when memory runs short, and a dropped nonce lets its token be replayed: ` +
          'set maxmemory-policy noeviction on the server (then Redis refuses new nonces when full, and tokens get 503), or set accept_evicting_policy: true to accept the risk',
      );
    }
    if (evicting) {
      this.logger.warn(
        { redis: this.where(), maxmemoryPolicy: evicting.maxmemoryPolicy },
        'redis nonce store uses a Redis that may evict nonces (accept_evicting_policy: true): tokens whose nonce is evicted can be replayed',
      );
    }
    return undefined;
  }

  // Connection changes are logged once each, never per claim.
  private readonly onReady = (): void => {
    const client = this.client;
    if (!client) return;
    const previous = this.state;
    this.state = 'checking';
    this.checked = this.checkServer(client).then((problem) => {
      if (this.client !== client || this.state !== 'checking') return;
      this.lastError = undefined;
      if (problem) {
        this.state = 'unsuitable';
        this.beginOutage();
        if (problem.message !== this.unsuitable?.message) this.logger.error({ redis: this.where() }, `${problem.message}; refusing tokens`);
        this.unsuitable = problem;
        return;
      }
      this.unsuitable = undefined;
      this.state = 'ready';
      if (previous === 'connecting') this.logger.info({ redis: this.where() }, 'redis nonce store connected');
      else this.endOutage('redis nonce store reconnected: accepting tokens again');
    });
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
    if (this.state === 'connecting' || this.state === 'lost') return;
    const wasReady = this.state === 'ready';
    this.state = 'lost';
    this.beginOutage();
    if (wasReady) this.logger.error({ err: this.lastError, redis: this.where() }, 'redis nonce store lost its connection: refusing tokens until Redis is back');
  };

  /** Where Redis is, for logs; never the password. */
  private where(): string {
    return describeRedis(this.config as RedisConnectionConfig);
  }
}

/** Exponential backoff from 100 ms to 1 s, with jitter so that many processes do not reconnect in step. */
function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1000) + Math.floor(Math.random() * 100);
}
