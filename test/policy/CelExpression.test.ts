// CEL evaluations are bounded whatever the request holds: matches() is RE2 (linear time), a
// pattern RE2 refuses is a configuration error at its YAML path, and loops stop at the bound.
import { ConfigError } from '../../src/config/ConfigError';
import { CelExpression } from '../../src/policy/CelExpression';
import { PolicyTimeoutError } from '../../src/policy/PolicyTimeoutError';

const PATH = 'jwtproxy.verifier_proxies[0].verifier.claims_verifiers[0].options.expression';
/** Proves an evaluation did not hang; never a performance claim. */
const GENEROUS_MS = 2000;

function timed<T>(run: () => T): { ms: number; result?: T; error?: unknown } {
  const started = performance.now();
  try {
    const result = run();
    return { ms: performance.now() - started, result };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

test('matches() keeps CEL semantics: unanchored, RE2 syntax', () => {
  const rule = CelExpression.compile('claims.email.matches("@example\\\\.com$")', PATH);
  expect(rule.evaluate({ claims: { email: 'ada@example.com' } })).toBe(true);
  expect(rule.evaluate({ claims: { email: 'ada@example.com.evil' } })).toBe(false);
  expect(CelExpression.compile('matches(claims.sub, "^u-[0-9]+$")', PATH).evaluate({ claims: { sub: 'u-42' } })).toBe(true);
});

test('a catastrophic pattern (nested quantifiers) over a crafted subject answers at once', () => {
  // With a backtracking RegExp this took 2^40 steps: the worker froze.
  const rule = CelExpression.compile('claims.name.matches("^(a+)+$")', PATH);
  const { ms, result } = timed(() => rule.evaluate({ claims: { name: `${'a'.repeat(40)}!` } }));
  expect(result).toBe(false);
  expect(ms).toBeLessThan(GENEROUS_MS);
});

test('a literal pattern RE2 does not accept is refused at load with its YAML path', () => {
  for (const pattern of ['(a)\\\\1', '(?=admin)', '(?<!x)y']) {
    const compile = () => CelExpression.compile(`request.path.matches("${pattern}")`, PATH);
    expect(compile).toThrow(ConfigError);
    expect(compile).toThrow(new RegExp(`^${PATH.replace(/[.[\]]/g, '\\$&')}: has the pattern .* which is not an RE2 regular expression`));
  }
});

test('a pattern from the request is compiled under a bound; an invalid one is an evaluation error', () => {
  const rule = CelExpression.compile('claims.name.matches(claims.pattern)', PATH);
  expect(rule.evaluate({ claims: { name: 'abc', pattern: 'b+' } })).toBe(true);
  expect(() => rule.evaluate({ claims: { name: 'abc', pattern: '(?=b)' } })).toThrow(/Invalid regular expression/);
  expect(() => rule.evaluate({ claims: { name: 'abc', pattern: 'a{1000}' } })).toThrow(PolicyTimeoutError);
  expect(() => rule.evaluate({ claims: { name: 'abc', pattern: 'a'.repeat(300) } })).toThrow(PolicyTimeoutError);
});

test('a match whose worst case could pass the bound is refused before it runs', () => {
  const rule = CelExpression.compile('claims.name.matches("[a-z]{1000}")', PATH, 50);
  const { ms, error } = timed(() => rule.evaluate({ claims: { name: 'a'.repeat(16_000) } }));
  expect(error).toBeInstanceOf(PolicyTimeoutError);
  expect(ms).toBeLessThan(GENEROUS_MS);
  expect(rule.evaluate({ claims: { name: `x${'a'.repeat(1000)}` } })).toBe(true);
});

test('nested loops over a request-sized list stop at the time bound', () => {
  // 16 000 × 16 000 steps: minutes without the bound.
  const rule = CelExpression.compile('claims.items.all(a, claims.items.all(b, a == b || a != b))', PATH, 50);
  const items = Array.from({ length: 16_000 }, (_, index) => String(index));
  const { ms, error } = timed(() => rule.evaluate({ claims: { items } }));
  expect(error).toBeInstanceOf(PolicyTimeoutError);
  expect(ms).toBeLessThan(GENEROUS_MS);
  // The same rule over a short list is decided as before, and map/filter still work.
  expect(rule.evaluate({ claims: { items: ['a', 'b'] } })).toBe(true);
  expect(CelExpression.compile('claims.items.map(x, x + "!").filter(x, x != "a!")', PATH).evaluate({ claims: { items: ['a', 'b'] } })).toEqual(['b!']);
});
