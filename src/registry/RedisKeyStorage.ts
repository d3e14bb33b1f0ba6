// Key storage in Redis, shared by several registry processes (HA): a hash of JSON records per
// service, a set of service names, and updates as compare-and-set scripts (no lost update).
// An outage is logged when it starts and when it ends, with the count of operations refused.
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger';
import { KeyStorageError, type KeyChange, type KeyStorage } from './KeyStorage';
import { parseRegisteredKey, type RegisteredKey } from './RegisteredKey';
import { StorageOutage } from './StorageOutage';

// Writes ARGV[3] (or deletes, when empty) only if the record is still ARGV[2] ('' = absent).
const COMPARE_AND_SET = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[4]) end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
end
return 1`;

// Two writers racing on one key retry; this many losses in a row means something is wrong.
const MAX_ATTEMPTS = 20;

export class RedisKeyStorage implements KeyStorage {
  private readonly client: Redis;
  private readonly outage: StorageOutage;

  constructor(
    url: string,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
  ) {
    this.client = new Redis(url, {
      lazyConnect: true,
      // Fail at once while Redis is away (the request gets 503) rather than queue requests.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 5_000,
      commandTimeout: 5_000,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1000),
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
      const raw = await this.command(() => this.client.hget(this.serviceKey(service), kid));
      const current = this.decode(raw);
      const next = change(current);
      if (next === undefined) return current;
      const written = await this.command(() =>
        this.client.eval(COMPARE_AND_SET, 2, this.serviceKey(service), this.servicesKey(), kid, raw ?? '', next === null ? '' : JSON.stringify(next), service),
      );
      if (written === 1) return next ?? undefined;
    }
    throw new KeyStorageError(`key registry storage: the key ${service}/${kid} kept changing while being updated`);
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
