import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { NonceStoreUnavailableError } from '../../src/nonce/NonceStore';
import { silentLogger } from '../../src/observability/logger';

function storeAt(clock: { now: number }, options: { maxEntries?: number; purgeIntervalMs?: number } = {}): LocalNonceStore {
  return new LocalNonceStore({
    purgeIntervalMs: options.purgeIntervalMs ?? 60_000,
    maxEntries: options.maxEntries ?? 1_000_000,
    clock: () => clock.now,
    logger: silentLogger,
  });
}

describe('LocalNonceStore', () => {
  const start = 1_800_000_000_000;

  test('accepts a token id once and refuses it after', async () => {
    const store = storeAt({ now: start });
    expect(await store.claim('a', start + 60_000)).toBe(true);
    expect(await store.claim('a', start + 60_000)).toBe(false);
    expect(await store.claim('b', start + 60_000)).toBe(true);
  });

  test('of many concurrent claims of one token id exactly one succeeds', async () => {
    const store = storeAt({ now: start });
    const results = await Promise.all(Array.from({ length: 1000 }, () => store.claim('same', start + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('refuses an expired token id that is not yet purged', async () => {
    const clock = { now: start };
    const store = storeAt(clock);
    await store.claim('a', start + 1000);
    clock.now = start + 5000;
    expect(await store.claim('a', start + 1000)).toBe(false);
  });

  test('purge drops token ids whose token has expired', async () => {
    const clock = { now: start };
    const store = storeAt(clock);
    await store.claim('old', start + 1000);
    await store.claim('new', start + 120_000);
    clock.now = start + 1000;
    await store.purge();
    expect(store.size).toBe(1);
    expect(await store.claim('old', start + 1000)).toBe(true);
    expect(await store.claim('new', start + 120_000)).toBe(false);
  });

  test('purge keeps a token id until the end of its token’s lifetime', async () => {
    const clock = { now: start };
    const store = storeAt(clock);
    await store.claim('a', start + 1500);
    clock.now = start + 1499;
    await store.purge();
    expect(store.size).toBe(1);
  });

  test('purge of many token ids lets other callbacks run in between', async () => {
    const clock = { now: start };
    const store = storeAt(clock);
    for (let i = 0; i < 50_000; i++) store.claimNow(`jti-${i}`, start + 1000);
    clock.now = start + 2000;
    const order: string[] = [];
    const purged = store.purge().then(() => order.push('purge done'));
    setImmediate(() => order.push('other callback'));
    await purged;
    expect(order).toEqual(['other callback', 'purge done']);
    expect(store.size).toBe(0);
  });

  test('token ids claimed during a purge are kept', async () => {
    const clock = { now: start };
    const store = storeAt(clock);
    for (let i = 0; i < 30_000; i++) store.claimNow(`jti-${i}`, start + 1000);
    clock.now = start + 2000;
    const purged = store.purge();
    await new Promise((resolve) => setImmediate(resolve));
    store.claimNow('during', start + 1000);
    await purged;
    expect(store.size).toBe(1);
    expect(await store.claim('during', start + 1000)).toBe(false);
  });

  test('the purge interval purges expired token ids', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const clock = { now: start };
      const store = storeAt(clock, { purgeIntervalMs: 10_000 });
      await store.start();
      await store.claim('a', start + 1000);
      clock.now = start + 5000;
      jest.advanceTimersByTime(10_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(store.size).toBe(0);
      await store.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  test('when full it refuses new token ids with NonceStoreUnavailableError', async () => {
    const store = storeAt({ now: start }, { maxEntries: 2 });
    await store.claim('a', start + 60_000);
    await store.claim('b', start + 60_000);
    const refusal = store.claim('c', start + 60_000);
    await expect(refusal).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await expect(refusal).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE', message: expect.stringMatching(/full/) });
  });

  test('when full it still refuses replays and evicts nothing', async () => {
    const store = storeAt({ now: start }, { maxEntries: 2 });
    await store.claim('a', start + 60_000);
    await store.claim('b', start + 60_000);
    await expect(store.claim('c', start + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    expect(await store.claim('a', start + 60_000)).toBe(false);
    expect(await store.claim('b', start + 60_000)).toBe(false);
    expect(store.size).toBe(2);
  });

  test('when full it accepts again once expired token ids are purged', async () => {
    const clock = { now: start };
    const store = storeAt(clock, { maxEntries: 2 });
    await store.claim('a', start + 1000);
    await store.claim('b', start + 60_000);
    clock.now = start + 1000;
    await expect(store.claim('c', start + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await store.purge();
    expect(await store.claim('c', start + 60_000)).toBe(true);
  });

  test('refuses a max_entries beyond what a JavaScript Set can hold', () => {
    expect(() => storeAt({ now: start }, { maxEntries: 20_000_000 })).toThrow(/max_entries/);
  });
});
