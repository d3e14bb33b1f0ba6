import { httpFreshness, parseCacheControl } from '../../src/keys/httpFreshness';

const NOW = Date.parse('2026-11-22T14:00:00Z');

test('max-age gives the freshness in milliseconds', () => {
  expect(httpFreshness({ 'cache-control': 'public, max-age=600' }, NOW)).toBe(600_000);
});

test('the shorter of max-age and s-maxage wins', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=600, s-maxage=60' }, NOW)).toBe(60_000);
  expect(httpFreshness({ 'cache-control': 's-maxage=600, max-age=60' }, NOW)).toBe(60_000);
});

test('Age is subtracted from max-age', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=600', age: '100' }, NOW)).toBe(500_000);
  expect(httpFreshness({ 'cache-control': 'max-age=60', age: '100' }, NOW)).toBe(0);
});

test('no-store and no-cache forbid reuse', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=600, no-store' }, NOW)).toBe(0);
  expect(httpFreshness({ 'cache-control': 'no-cache, max-age=600' }, NOW)).toBe(0);
});

test('a qualified no-cache="field" does not forbid reusing the body', () => {
  expect(httpFreshness({ 'cache-control': 'no-cache="set-cookie, x-a", max-age=60' }, NOW)).toBe(60_000);
});

test('must-revalidate keeps the max-age: stale answers are never served anyway', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=60, must-revalidate' }, NOW)).toBe(60_000);
});

test('an unparsable max-age makes the answer stale', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=ten' }, NOW)).toBe(0);
});

test('directive names are case-insensitive and the first occurrence wins', () => {
  expect(httpFreshness({ 'cache-control': 'Max-Age=30, max-age=600' }, NOW)).toBe(30_000);
});

test('several Cache-Control header lines are read together', () => {
  expect(httpFreshness({ 'cache-control': ['max-age=600', 'no-store'] }, NOW)).toBe(0);
});

test('Expires counts from the Date header', () => {
  const date = 'Wed, 01 Jan 2020 00:00:00 GMT';
  expect(httpFreshness({ date, expires: 'Wed, 01 Jan 2020 00:05:00 GMT' }, NOW)).toBe(300_000);
});

test('Expires counts from now without a Date header', () => {
  expect(httpFreshness({ expires: new Date(NOW + 120_000).toUTCString() }, NOW)).toBe(120_000);
});

test('an invalid Expires means already expired', () => {
  expect(httpFreshness({ expires: '0' }, NOW)).toBe(0);
});

test('max-age takes precedence over Expires', () => {
  expect(httpFreshness({ 'cache-control': 'max-age=10', expires: new Date(NOW + 120_000).toUTCString() }, NOW)).toBe(10_000);
});

test('no caching headers say nothing', () => {
  expect(httpFreshness({}, NOW)).toBeUndefined();
  expect(httpFreshness({ 'cache-control': 'public' }, NOW)).toBeUndefined();
});

test('parseCacheControl unquotes values', () => {
  expect(parseCacheControl('private="a, b", max-age=5')).toEqual(
    new Map([
      ['private', 'a, b'],
      ['max-age', '5'],
    ]),
  );
});
