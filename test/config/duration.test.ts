import { formatDuration, MAX_TIMER_MS, parseDuration } from '../../src/config/duration';

describe('Go durations', () => {
  test.each([
    ['300ms', 300],
    ['1m', 60_000],
    ['1h30m', 5_400_000],
    ['12h', 43_200_000],
    ['1m30.5s', 90_500],
    ['-1s', -1000],
    ['1.5h', 5_400_000],
    ['100us', 0.1],
    ['0', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms);
  });

  test('a bare integer is nanoseconds', () => {
    expect(parseDuration(5_000_000_000)).toBe(5000);
    expect(parseDuration('1000000')).toBe(1);
  });

  test.each(['5 minutes', '1d', 'm', '', '1h-30m', '--1s', '1.5'])('%j is refused', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('durations in messages', () => {
  test.each([
    [MAX_TIMER_MS, '596h31m23.647s'],
    [5_400_000, '1h30m0s'],
    [90_500, '1m30.5s'],
    [300, '300ms'],
    [0, '0s'],
    [-1000, '-1s'],
  ])('%d ms is written %s, as Go writes it', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBeCloseTo(ms);
  });
});
