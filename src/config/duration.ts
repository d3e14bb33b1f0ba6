// Go duration strings ("1h30m", "300ms", "-1s", "1m30.5s") to milliseconds.
// A bare number is nanoseconds, as Go's time.Duration unmarshals it.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const DURATION = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

/** Returns the duration in milliseconds, or undefined when `value` is not a Go duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value / 1e6 : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '0') return 0;
  if (/^[-+]?\d+$/.test(text)) return Number(text) / 1e6;
  const match = DURATION.exec(text);
  if (!match) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit];
  return match[1] === '-' ? -total : total;
}
