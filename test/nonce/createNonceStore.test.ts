import { createNonceStore } from '../../src/nonce/createNonceStore';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { RedisNonceStore } from '../../src/nonce/RedisNonceStore';
import { VoidNonceStore } from '../../src/nonce/VoidNonceStore';
import { silentLogger } from '../../src/observability/logger';

const deps = { clock: Date.now, logger: silentLogger, id: 'verifier_proxies[0]' };

describe('createNonceStore', () => {
  test('builds a local store in a single process', () => {
    expect(createNonceStore({ type: 'local', purgeIntervalMs: 60_000, maxEntries: 1000 }, deps)).toBeInstanceOf(LocalNonceStore);
  });

  test('builds a redis store', () => {
    const config = { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: 'p:', db: 0, connectTimeoutMs: 1000, commandTimeoutMs: 1000 } as const;
    expect(createNonceStore(config, deps)).toBeInstanceOf(RedisNonceStore);
  });

  test('builds a void store', () => {
    expect(createNonceStore({ type: 'void' }, deps)).toBeInstanceOf(VoidNonceStore);
  });
});
