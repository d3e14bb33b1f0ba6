// createNonceStore builds the store a verifier's nonce_storage config names: each built store is
// checked by what it does with a replayed token id, the Redis one against a real redis-server.
import { Redis } from 'ioredis';
import { createNonceStore } from '../../src/nonce/nonceStoreTypes';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { NonceStoreUnavailableError, type NonceStore } from '../../src/nonce/NonceStore';
import { RedisNonceStore } from '../../src/nonce/RedisNonceStore';
import { VoidNonceStore } from '../../src/nonce/VoidNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { RedisServer } from '../support/redisServer';

const deps = { clock: Date.now, logger: silentLogger, id: 'verifier_proxies[0]' };
const inAMinute = () => Date.now() + 60_000;

/** The answers of the started `store` to claims of `jtis`, one after the other; then stops it. */
async function claims(store: NonceStore, jtis: string[]): Promise<(boolean | string)[]> {
  await store.start();
  try {
    const answers: (boolean | string)[] = [];
    for (const jti of jtis) answers.push(await store.claim(jti, inAMinute()).catch((error: Error) => error.name));
    return answers;
  } finally {
    await store.stop();
  }
}

describe('createNonceStore', () => {
  test('builds a local store in a single process: a replay is refused, and max_entries holds', async () => {
    const store = createNonceStore({ type: 'local', purgeIntervalMs: 60_000, maxEntries: 2 }, deps);
    expect(store).toBeInstanceOf(LocalNonceStore);
    expect(await claims(store, ['a', 'a', 'b', 'c'])).toEqual([true, false, true, NonceStoreUnavailableError.name]);
  });

  test('builds a redis store: a replay is refused, and the token ids are kept under the key prefix', async () => {
    const redis = await RedisServer.start();
    const inspector = new Redis(redis.url);
    try {
      const config = {
        type: 'redis',
        url: redis.url,
        keyPrefix: 'p:',
        db: 0,
        connectTimeoutMs: 1000,
        commandTimeoutMs: 1000,
        waitReplicas: 0,
        waitTimeoutMs: 100,
        acceptEvictingPolicy: false,
      } as const;
      const store = createNonceStore(config, deps);
      expect(store).toBeInstanceOf(RedisNonceStore);
      expect(await claims(store, ['a', 'a'])).toEqual([true, false]);
      expect(await inspector.keys('*')).toEqual(['p:a']);
    } finally {
      inspector.disconnect();
      await redis.kill();
    }
  });

  test('builds a void store: no replay protection, every claim succeeds', async () => {
    const store = createNonceStore({ type: 'void' }, deps);
    expect(store).toBeInstanceOf(VoidNonceStore);
    expect(await claims(store, ['a', 'a'])).toEqual([true, true]);
  });
});
