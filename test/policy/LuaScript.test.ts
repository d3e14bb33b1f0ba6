// LuaScript on its own, without a proxy: scripts that do not load, the sandbox a script runs in,
// values between JavaScript and Lua both ways, and the time and memory bounds of a call.
import { LuaScript, LuaScriptError, type LuaScriptOptions } from '../../src/policy/LuaScript';

const scripts: LuaScript[] = [];
afterEach(() => {
  for (const script of scripts.splice(0)) script.close();
});

async function load(source: string, options: Partial<LuaScriptOptions> = {}): Promise<LuaScript> {
  const script = await LuaScript.load({ source, chunkName: 'policy.lua', functionName: 'verify', timeoutMs: 50, memoryLimitBytes: 16 * 2 ** 20, ...options });
  scripts.push(script);
  return script;
}

/** The error `action` throws, which must be a LuaScriptError. */
async function failure(action: () => unknown): Promise<LuaScriptError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(LuaScriptError);
    return error as LuaScriptError;
  }
  throw new Error('it succeeded');
}

/** Calls `body` as the function of one input `x` and returns its first result. */
async function evaluate(body: string, input: unknown = null): Promise<unknown> {
  const script = await load(`function verify(x) ${body} end`);
  return script.call(input, 1)[0];
}

describe('loading', () => {
  test('a syntax error is ERR_LUA_SYNTAX with the chunk name and line', async () => {
    const error = await failure(() => load('function verify(x)\n  return (\nend'));
    expect(error.code).toBe('ERR_LUA_SYNTAX');
    expect(error.message).toMatch(/^policy\.lua:3: /);
  });

  test('an error in the top level is ERR_LUA_RUNTIME, said to be at load', async () => {
    const error = await failure(() => load('local t = nil\nlocal x = t.field\nfunction verify() return true end'));
    expect(error.code).toBe('ERR_LUA_RUNTIME');
    expect(error.message).toMatch(/^policy\.lua:2: attempt to index a nil value .*\(when the script was loaded\)$/);
  });

  test('no global function of the name is ERR_LUA_NO_FUNCTION, naming what it is instead', async () => {
    const error = await failure(() => load('verify = 42'));
    expect(error).toMatchObject({ code: 'ERR_LUA_NO_FUNCTION', message: 'the script defines no global function verify (verify is a number value)' });
  });

  test('a module-style script: the function is a field of the table it returns, not a global', async () => {
    const module = await load('local M = {}\nfunction M.check() return "from the table" end\nfunction check() return "global" end\nreturn M', { functionName: 'check' });
    expect(module.call(null, 1)).toEqual(['from the table']);
    const error = await failure(() => load('return {}', { functionName: 'check' }));
    expect(error).toMatchObject({ code: 'ERR_LUA_NO_FUNCTION', message: 'the table the script returns has no function check (check is a nil value)' });
  });

  test('a top level that never ends is stopped at the time bound', async () => {
    const error = await failure(() => load('while true do end', { timeoutMs: 20 }));
    expect(error).toMatchObject({ code: 'ERR_LUA_TIMEOUT', message: 'the script ran longer than 20ms when loaded' });
  });

  test('binary chunks are refused, the script itself included', async () => {
    const error = await failure(() => load('\x1bLua'));
    expect(error.code).toBe('ERR_LUA_SYNTAX');
    expect(error.message).toContain('binary chunk');
  });
});

describe('the sandbox', () => {
  test('no io, no modules, no files, no output, no process', async () => {
    expect(await evaluate('return type(io) .. type(require) .. type(package) .. type(dofile) .. type(loadfile) .. type(print)')).toBe('nilnilnilnilnilnil');
    expect(await evaluate('return type(os.execute) .. type(os.exit) .. type(os.getenv) .. type(os.remove)')).toBe('nilnilnilnil');
  });

  test('os keeps its clock; string, table, math, utf8 and coroutine are there', async () => {
    expect(await evaluate('return type(os.time()) .. type(os.clock()) .. type(os.date("!%Y")) .. type(os.difftime(2, 1))')).toBe('numbernumberstringnumber');
    expect(await evaluate('return type(string.format) .. type(table.concat) .. type(math.floor) .. type(utf8.char) .. type(coroutine.wrap)')).toBe('functionfunctionfunctionfunctionfunction');
  });

  test('load takes text chunks only: bytecode from string.dump is refused', async () => {
    expect(await evaluate('return load("return 1 + 1")()')).toBe(2);
    expect(await evaluate('local ok, err = load(string.dump(function() return 1 end), "dumped", "b"); return err')).toMatch(/attempt to load a binary chunk \(mode is 't'\)/);
  });

  test('__gc metamethods are refused', async () => {
    expect(await evaluate('local ok, err = pcall(setmetatable, {}, {__gc = function() end}); return err')).toBe('__gc metamethods are not available in claims verifiers');
    expect(await evaluate('return getmetatable(setmetatable({}, {__index = {a = 1}})).__index.a')).toBe(1);
  });
});

describe('values between JavaScript and Lua', () => {
  test('claims become tables: objects by key, arrays from 1, null as nil', async () => {
    const claims = { email: 'a@example.com', groups: ['staff', 'admins'], custom: { level: 3 }, gone: null };
    expect(await evaluate('return x.email .. " " .. #x.groups .. " " .. x.groups[1] .. " " .. x.custom.level .. " " .. tostring(x.gone)', claims)).toBe('a@example.com 2 staff 3 nil');
  });

  test('integers within 64 bits are Lua integers; other numbers floats', async () => {
    expect(await evaluate('return math.type(x[1]) .. math.type(x[2]) .. math.type(x[3]) .. math.type(x[4])', [3_000_000_000, 0.5, 2 ** 64, 2n ** 62n])).toBe('integerfloatfloatinteger');
    expect(await evaluate('return x * 4', 3_000_000_000)).toBe(12_000_000_000);
  });

  test('strings keep all their bytes, UTF-8 and NUL included, both ways', async () => {
    expect(await evaluate('return #x .. " " .. x', 'é\u0000z')).toBe('4 é\u0000z');
    expect(await evaluate('return "a\\0b"')).toBe('a\u0000b');
  });

  test('the request fields a rule reads: method, path, host and headers', async () => {
    const input = { claims: { sub: 'u1' }, request: { method: 'POST', path: '/deploy', host: 'api.example.com', headers: { 'x-team': 'payments' } } };
    expect(await evaluate('local r = x.request; return r.method .. " " .. r.path .. " " .. r.host .. " " .. r.headers["x-team"] .. " " .. x.claims.sub', input)).toBe(
      'POST /deploy api.example.com payments u1',
    );
  });

  test('results: scalars as they are, nil as null, other values by their type', async () => {
    const script = await load('function verify() return true, 7, 0.25, "text", nil, {}, verify end');
    expect(script.call(null, 7)).toEqual([true, 7, 0.25, 'text', null, { luaType: 'table' }, { luaType: 'function' }]);
  });

  test('an input nested deeper than 64 levels is refused before the call', async () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 70; level++) deep = [deep];
    const script = await load('function verify() return true end');
    expect(await failure(() => script.call(deep))).toMatchObject({ code: 'ERR_LUA_INPUT', message: 'the input nests deeper than 64 levels' });
    expect(script.call(null, 1)).toEqual([true]);
  });

  test('a runtime error is ERR_LUA_RUNTIME with the line; an error object that is not a string is named by its type', async () => {
    const script = await load('function verify(x)\n  if x then error({}) end\n  return x.missing\nend');
    expect(await failure(() => script.call(null))).toMatchObject({ code: 'ERR_LUA_RUNTIME', message: expect.stringMatching(/^policy\.lua:3: attempt to index a nil value/) });
    expect(await failure(() => script.call(true))).toMatchObject({ code: 'ERR_LUA_RUNTIME', message: '(error object is a table value)' });
  });
});

describe('bounds', () => {
  test('a loop is stopped at the time bound, even under pcall', async () => {
    const script = await load('function verify() pcall(function() while true do end end); while true do end end', { timeoutMs: 20 });
    const started = performance.now();
    expect(await failure(() => script.call(null))).toMatchObject({ code: 'ERR_LUA_TIMEOUT', message: 'verify ran longer than its 20ms bound' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('one C call past the deadline is refused all the same', async () => {
    const script = await load('function verify() local s = string.rep("x", 2^20); for i = 1, 10 do s = s:upper():lower() end; return true end', { timeoutMs: 1 });
    expect((await failure(() => script.call(null))).code).toBe('ERR_LUA_TIMEOUT');
  });

  test('an allocation past the memory limit is ERR_LUA_MEMORY', async () => {
    const script = await load('function verify() local t = {}; for i = 1, 1e9 do t[i] = i end end', { memoryLimitBytes: 2 ** 20, timeoutMs: 5000 });
    expect(await failure(() => script.call(null))).toMatchObject({ code: 'ERR_LUA_MEMORY', message: expect.stringMatching(/^verify needed more than its 1MiB memory bound/) });
    expect(script.memoryUsed).toBe(0);
  });

  test('globals persist between calls, until a bound stops one: the script then starts afresh', async () => {
    const script = await load('calls = 0\nfunction verify(loop) calls = calls + 1; while loop do end; return calls end', { timeoutMs: 20 });
    expect(script.call(false, 1)).toEqual([1]);
    expect(script.call(false, 1)).toEqual([2]);
    expect((await failure(() => script.call(true))).code).toBe('ERR_LUA_TIMEOUT');
    expect(script.call(false, 1)).toEqual([1]);
  });

  test('the state holds memory within its limit between calls', async () => {
    const script = await load('function verify() return true end', { memoryLimitBytes: 2 ** 20 });
    expect(script.memoryUsed).toBeGreaterThan(0);
    expect(script.memoryUsed).toBeLessThan(2 ** 20);
  });
});
