// The Lua port of lstrlib's matcher answers as the C library does: same results, same
// errors, for find, match, gmatch and gsub. Every call here is sent to the port (a budget of
// 0), and compared with the C function on the same arguments, in the same interpreter.
import { LuaFactory, type LuaEngine } from 'wasmoon';
import { patternFunctionsWithBudget } from '../../src/policy/lua/luaPatterns';

let engine: LuaEngine;

beforeAll(async () => {
  engine = await new LuaFactory().createEngine();
  engine.doStringSync('C = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }');
  engine.doStringSync(patternFunctionsWithBudget(0));
  engine.doStringSync(`
    function describe(ok, ...)
      local out = { ok and 'ok' or 'error' }
      local n = select('#', ...)
      for i = 1, n do out[#out + 1] = type((select(i, ...))) .. ':' .. tostring((select(i, ...))) end
      return table.concat(out, '|')
    end
    function gmatched(f, s, p, init)
      local out = {}
      for a, b in f(s, p, init) do out[#out + 1] = tostring(a) .. ',' .. tostring(b) end
      return table.concat(out, ';')
    end
    function compare(name, ...)
      local ported, original
      if name == 'gmatch' then
        ported = describe(pcall(gmatched, string.gmatch, ...))
        original = describe(pcall(gmatched, C.gmatch, ...))
      else
        ported = describe(pcall(string[name], ...))
        original = describe(pcall(C[name], ...))
      end
      return ported, original
    end`);
});

afterAll(() => engine.global.close());

const SUBJECTS = ['', 'hello world', '  trim me  ', 'key=value; other=2', 'THE (quick) fox', 'aaa', 'x[y]z%', 'a.b.c', 'f(a(b)c)d', '\u0000nul', '12ab34'];
const PATTERNS = [
  'o',
  'l+',
  'l*',
  'l-',
  'lo?',
  '^h',
  'd$',
  '^%s*(.-)%s*$',
  '(%w+)=(%w+)',
  '%b()',
  '%f[%w]%w+',
  '()a()',
  '(a)%1',
  '[%a_][%w_]*',
  '[^%s]+',
  '[a-c]+',
  '[]]',
  '[^]]',
  '.-b',
  '%d+',
  '%u+',
  '%p',
  '%x+',
  '%S+',
  '.',
  '',
  '^',
  '$',
  '^$',
  'a-$',
  '(h)(e)(l)',
  '%.',
  '[%.%[%]]',
  // malformed: the same message from both
  '%',
  '[a',
  '(',
  ')',
  '%b',
  '%f',
  '%1',
  '(()',
  'a%',
];

test('find and match give the C results and errors, with and without init', () => {
  for (const subject of SUBJECTS) {
    for (const pattern of PATTERNS) {
      for (const init of [undefined, 1, 3, -2, 0, 100]) {
        for (const name of ['find', 'match']) {
          const [ported, original] = engine.global.call('compare', name, subject, pattern, init) as unknown as [string, string];
          expect({ name, subject, pattern, init, result: ported }).toEqual({ name, subject, pattern, init, result: original });
        }
      }
    }
  }
});

test('gmatch and gsub give the C results', () => {
  for (const subject of SUBJECTS) {
    for (const pattern of PATTERNS) {
      const gmatch = engine.global.call('compare', 'gmatch', subject, pattern) as unknown as [string, string];
      expect({ subject, pattern, gmatch: gmatch[0] }).toEqual({ subject, pattern, gmatch: gmatch[1] });
      for (const repl of ['[%0]', '<%1>', '%%', '%2', 'x%', 'plain']) {
        const [ported, original] = engine.global.call('compare', 'gsub', subject, pattern, repl) as unknown as [string, string];
        expect({ subject, pattern, repl, result: ported }).toEqual({ subject, pattern, repl, result: original });
      }
      const limited = engine.global.call('compare', 'gsub', subject, pattern, 'X', 1) as unknown as [string, string];
      expect({ subject, pattern, limited: limited[0] }).toEqual({ subject, pattern, limited: limited[1] });
    }
  }
});

test('gsub with a table or a function as replacement, and find in plain mode', () => {
  engine.doStringSync(`
    results = {}
    local function both(...) local a, b = compare(...) results[#results + 1] = a .. ' == ' .. b end
    T = { hello = 'HI', world = false }
    F = function(a) if a == 'world' then return nil end return a:upper() end
    both('gsub', 'hello world', '%w+', T)
    both('gsub', 'hello world', '%w+', F)
    both('gsub', 'hello world', '%w+', function() return {} end)
    both('find', 'a.b.c', '.', 1, true)
    both('find', 'a.b.c', '.b', -3, true)
    both('find', 'aaaaab', 'aab', 1, true)
    both('find', 'abc', '', 10, true)`);
  const results = engine.global.get('results') as string[];
  for (const line of results) {
    const [ported, original] = line.split(' == ');
    expect(ported).toBe(original);
  }
});
