import { ExpiringLruCache } from '../../src/keys/ExpiringLruCache';

test('returns a value until it expires', () => {
  const cache = new ExpiringLruCache<string>(10);
  cache.set('a', 'A', 1_000);
  expect(cache.get('a', 999)).toBe('A');
  expect(cache.get('a', 1_000)).toBeUndefined();
});

test('evicts the least recently used entry when full', () => {
  const cache = new ExpiringLruCache<string>(2);
  cache.set('a', 'A', 1_000);
  cache.set('b', 'B', 1_000);
  cache.get('a', 0);
  cache.set('c', 'C', 1_000);
  expect(cache.get('b', 0)).toBeUndefined();
  expect(cache.get('a', 0)).toBe('A');
  expect(cache.get('c', 0)).toBe('C');
  expect(cache.size).toBe(2);
});

test('replacing a value does not grow the cache', () => {
  const cache = new ExpiringLruCache<string>(2);
  cache.set('a', 'A', 1_000);
  cache.set('a', 'A2', 2_000);
  expect(cache.size).toBe(1);
  expect(cache.get('a', 1_500)).toBe('A2');
});

test('purge drops expired entries only', () => {
  const cache = new ExpiringLruCache<string>(10);
  cache.set('old', 'O', 1_000);
  cache.set('new', 'N', 5_000);
  cache.purge(1_000);
  expect(cache.size).toBe(1);
  expect(cache.get('new', 1_000)).toBe('N');
});
