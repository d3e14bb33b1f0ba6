// Whatever a request holds, a rule's evaluation ends within the policy's time bound: the
// request is refused (fail closed) and the proxy answers the next one. Each attack ran for
// seconds or never ended before: a backtracking regex in CEL's matches(), nested loops in
// CEL, an expression in claims_to_headers, and Lua's C pattern matcher with several `.-`.
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { capturingLogger, PolicyTestBed, REFUSED_BY_CLAIMS as REFUSED } from '../support/policyTestBed';
import { stopAfterEach } from '../support/providerVerifier';
import { within } from '../support/within';

const bed = new PolicyTestBed();
const track = stopAfterEach();

beforeAll(() => bed.open());
afterAll(() => bed.close());

/** Proves the worker did not hang; never a performance claim. */
const GENEROUS_MS = 3000;

async function answeredWithinBound(proxy: VerifierProxy, request: Parameters<PolicyTestBed['request']>[1]) {
  return within(bed.request(proxy, request), GENEROUS_MS, 'the attack request');
}

test('CEL: a catastrophic regex over a crafted path is decided at once, and the proxy answers the next request', async () => {
  const rule = `{type: cel, options: {expression: '!request.path.matches("^/(a+)+$")', message: no a-only paths}}`;
  const proxy = track(await bed.verifier([rule]));
  // 2^45 backtracking steps for JavaScript's RegExp; RE2 answers in linear time.
  expect(await answeredWithinBound(proxy, { path: `/${'a'.repeat(45)}!` })).toMatchObject({ status: 200 });
  expect(await answeredWithinBound(proxy, { path: '/aaaa' })).toMatchObject({ status: 403, body: `${REFUSED}no a-only paths` });
  expect(await bed.request(proxy, { path: '/app' })).toMatchObject({ status: 200, body: 'ok' });
});

test('CEL: nested loops over a long claim stop at the bound and refuse the request', async () => {
  const rule = `{type: cel, options: {expression: 'claims.word.split("").all(a, claims.word.split("").exists(b, a == b))', message: letters, timeout: 50ms}}`;
  const proxy = track(await bed.verifier([rule]));
  // 6 000 × 6 000 steps, each splitting the claim again.
  expect(await answeredWithinBound(proxy, { claims: { word: 'ab'.repeat(3000) } })).toMatchObject({ status: 403, body: `${REFUSED}letters` });
  expect(await bed.request(proxy, { claims: { word: 'abc' } })).toMatchObject({ status: 200, body: 'ok' });
});

test('claims_to_headers: an expression stopped at the bound refuses the request instead of dropping the header', async () => {
  const lines: Record<string, unknown>[] = [];
  const proxy = track(
    await bed.verifier(['{type: static, options: {}}'], {
      logger: capturingLogger(lines),
      extra: `claims_to_headers:\n  X-Tag-Pairs: 'claims.word.split("").map(a, claims.word.split("").filter(b, b == a).size())'`,
    }),
  );
  const answer = await answeredWithinBound(proxy, { claims: { word: 'ab'.repeat(3000) } });
  expect(answer.status).toBe(403);
  expect(answer.body).toMatch(/X-Tag-Pairs|x-tag-pairs/i);
  expect(await bed.request(proxy, { claims: { word: 'a' } })).toMatchObject({ status: 200 });
});

describe('Lua patterns', () => {
  const SCRIPT = `
    function verify(input)
      local value = input.request.headers["x-probe"] or ""
      if input.request.path == "/catastrophic" then
        return value:find(".-.-.-b") ~= nil
      end
      if input.request.path == "/gsub" then
        return (value:gsub("a.-a.-b", "")) ~= nil
      end
      -- An honest rule: the trim idiom and a cookie-style lookup over long headers.
      local trimmed = ("  " .. value .. "  "):match("^%s*(.-)%s*$")
      local session = (input.request.headers["x-session"] or ""):match("session=([^;]+)")
      return trimmed == value and session == "s3cr3t"
    end`;

  async function luaProxy(logLines?: Record<string, unknown>[]): Promise<VerifierProxy> {
    const script = await bed.script(SCRIPT);
    return track(await bed.verifier([`{type: lua, options: {script: ${JSON.stringify(script)}, timeout: 100ms}}`], { logger: logLines && capturingLogger(logLines) }));
  }

  test.each(['/catastrophic', '/gsub'])('several .- over an 8 KB header (%s) is refused at the time bound; the next request is answered', async (path) => {
    const lines: Record<string, unknown>[] = [];
    const proxy = await luaProxy(lines);
    // C's matcher: about n^4/24 = 1.7e14 steps here, it never returned.
    const answer = await answeredWithinBound(proxy, { path, headers: { 'x-probe': 'a'.repeat(8000) } });
    expect(answer).toMatchObject({ status: 403, body: `${REFUSED}the Lua rule failed` });
    expect(lines.find((line) => line.msg === 'request refused')).toMatchObject({ cause: expect.stringContaining('ran longer than its 100ms bound') });
    // The proxy stays responsive: the next (ordinary) request is answered.
    const honest = { path: '/app', headers: { 'x-probe': 'word word x', 'x-session': 'pref=1; session=s3cr3t; theme=dark' } };
    expect(await bed.request(proxy, honest)).toMatchObject({ status: 200, body: 'ok' });
  });
});
