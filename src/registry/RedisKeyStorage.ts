// Key storage in Redis, shared by several registry processes (HA): a hash of JSON records per
// service, a set of service names, and updates as compare-and-set scripts over the whole service
// (no lost update, and a service's "first key" decided once across processes). Standalone,
// Sentinel or Cluster (every key in one slot, by the hash tag the config requires in the prefix).
// An outage is logged when it starts and when it ends, with the count of operations refused.
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnectionConfig } from '../redis/redisConnection';
import type { Logger } from '../observability/logger';
import { createRedisClient } from '../redis/createRedisClient';
import { KeyStorageError, type KeyChange, type KeyStorage } from './KeyStorage';
import { parseRegisteredKey, type RegisteredKey } from './RegisteredKey';
import { StorageOutage } from './StorageOutage';

// Writes ARGV[2] to field ARGV[1] (or deletes it, when empty) only if the service's hash is still
// exactly the ARGV[4] field/value pairs that follow ARGV[3]: a change decided from the service's
// keys is written only while they are as read.
const COMPARE_AND_SET = `
local count = tonumber(ARGV[4])
if redis.call('HLEN', KEYS[1]) ~= count then return 0 end
for i = 0, count - 1 do
  if redis.call('HGET', KEYS[1], ARGV[5 + 2 * i]) ~= ARGV[6 + 2 * i] then return 0 end
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[3]) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
end
return 1`;

// Two writers racing on one service retry; this many losses in a row means something is wrong.
const MAX_ATTEMPTS = 20;

export class RedisKeyStorage implements KeyStorage {
  private readonly client: Redis | Cluster;
  private readonly outage: StorageOutage;

  /** `connection`: a redis:// URL, or a whole connection (Sentinel, Cluster, TLS, ACL user). */
  constructor(
    connection: string | RedisConnectionConfig,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
  ) {
    const config: RedisConnectionConfig = typeof connection === 'string' ? { url: connection, db: 0 } : connection;
    this.client = createRedisClient(config, {
      lazyConnect: true,
      // Fail at once while Redis is away (the request gets 503) rather than queue requests.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 5_000,
      commandTimeout: 5_000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1000),
      clusterRetryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1000),
    });
    this.outage = new StorageOutage(this.logger, {
      down: 'key registry storage cannot reach Redis: answering 503 while retrying',
      up: 'key registry storage reconnected to Redis',
    });
    // ioredis reports every failed reconnection: the outage logs the first only.
    this.client.on('error', (error: Error) => this.outage.down(error));
    this.client.on('ready', () => this.outage.up());
  }

  async start(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.client.disconnect();
      throw new KeyStorageError(`key registry storage: cannot connect to Redis: ${(error as Error).message}`, { cause: error });
    }
  }

  async stop(): Promise<void> {
    // quit() on a client that is not connected would start connecting: just drop it then.
    if (this.client.status !== 'ready') return this.client.disconnect();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  async get(service: string, kid: string): Promise<RegisteredKey | undefined> {
    return this.decode(await this.command(() => this.client.hget(this.serviceKey(service), kid)));
  }

  async list(service?: string): Promise<RegisteredKey[]> {
    const services = service === undefined ? await this.command(() => this.client.smembers(this.servicesKey())) : [service];
    const records = await this.command(() => Promise.all(services.map((name) => this.client.hvals(this.serviceKey(name)))));
    return records.flat().map((raw) => this.decode(raw)!);
  }

  async update(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const fields = await this.command(() => this.client.hgetall(this.serviceKey(service)));
      const raw = fields[kid];
      const current = this.decode(raw ?? null);
      const others = Object.entries(fields)
        .filter(([field]) => field !== kid)
        .map(([, value]) => this.decode(value)!);
      const next = change(current, others);
      if (next === undefined) return current;
      if (next === null && raw === undefined) return undefined;
      const expected = Object.entries(fields).flat();
      const written = await this.command(() =>
        this.client.eval(COMPARE_AND_SET, 2, this.serviceKey(service), this.servicesKey(), kid, next === null ? '' : JSON.stringify(next), service, expected.length / 2, ...expected),
      );
      if (written === 1) return next ?? undefined;
    }
    throw new KeyStorageError(`key registry storage: the keys of ${service} kept changing while ${service}/${kid} was being updated`);
  }

  private serviceKey(service: string): string {
    return `${this.keyPrefix}keys:${service}`;
  }

  private servicesKey(): string {
    return `${this.keyPrefix}services`;
  }

  private async command<T>(run: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (error) {
      this.outage.refusedOperation(error);
      throw new KeyStorageError(`key registry storage: Redis failed: ${(error as Error).message}`, { cause: error });
    }
    // A command that failed with Redis connected (a timeout) ended no connection: its success ends the outage.
    if (this.outage.ongoing) this.outage.up();
    return result;
  }

  private decode(raw: string | null): RegisteredKey | undefined {
    if (raw === null) return undefined;
    try {
      return parseRegisteredKey(JSON.parse(raw));
    } catch (error) {
      throw new KeyStorageError(`key registry storage: a record in Redis is corrupt: ${(error as Error).message}`, { cause: error });
    }
  }
}
