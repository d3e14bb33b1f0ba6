// The Lua claims verifier in a running verifier proxy: Lua 5.4's own semantics (64-bit integers),
// scripts that do not load stop the start with their YAML path and Lua's message, scripts that
// loop or allocate without end are refused within their bounds while the proxy keeps answering,
// failures refuse the request with the cause in the log, and SIGHUP loads the script again.
import { promises as fs } from 'node:fs';
import { ConfigError } from '../../src/config/ConfigError';
import type { Logger } from '../../src/observability/logger';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { capturingLogger, PolicyTestBed, REFUSED_BY_CLAIMS as REFUSED } from '../support/policyTestBed';
import { stopAfterEach } from '../support/providerVerifier';

const bed = new PolicyTestBed();
const track = stopAfterEach();
const VERIFIER_PATH = 'jwtproxy.verifier_proxies[0].verifier.claims_verifiers[0]';

beforeAll(() => bed.open());
afterAll(() => bed.close());

/** A verifier whose one claims verifier runs `source`; `options` is more YAML for its options mapping. */
async function luaVerifier(source: string, options = '', logger?: Logger): Promise<VerifierProxy> {
  const script = await bed.script(source);
  return track(await bed.verifier([`{type: lua, options: {script: ${JSON.stringify(script)}${options ? `, ${options}` : ''}}}`], { logger }));
}

/** The error a verifier with `source` fails to start with. */
async function startError(source: string, options = ''): Promise<Error> {
  try {
    await luaVerifier(source, options);
  } catch (error) {
    return error as Error;
  }
  throw new Error('the verifier started');
}

describe('Lua 5.4 semantics', () => {
  test('claim integers beyond 2^31 stay 64-bit integers, and math.maxinteger wraps as in Lua', async () => {
    const proxy = await luaVerifier(`
      function verify(input)
        local c = input.claims
        local checks = {
          math.type(c.uid) == "integer",
          c.uid > 2^31 and c.uid == 3000000000,
          c.uid * 4 == 12000000000,
          c.uid // 7 == 428571428,
          string.format("%d", c.big) == "9007199254740991",
          c.big + 1 == 9007199254740992,
          math.type(c.exp) == "integer",
          math.maxinteger == 9223372036854775807,
          math.maxinteger + 1 == math.mininteger,
          math.type(c.ratio) == "float" and c.ratio == 0.5,
          1 << 62 == 4611686018427387904,
        }
        for i, ok in ipairs(checks) do
          if not ok then return false, "check " .. i .. " failed" end
        end
        if #checks ~= 11 then return false, "a check is nil" end
        return true
      end`);
    expect(await bed.request(proxy, { claims: { uid: 3_000_000_000, big: Number.MAX_SAFE_INTEGER, ratio: 0.5 } })).toMatchObject({ status: 200, body: 'ok' });
  });

  test('strings keep their bytes: UTF-8 and a NUL inside a claim', async () => {
    const proxy = await luaVerifier(`
      function verify(input)
        local name = input.claims.name
        if #name ~= 8 or utf8.len(name) ~= 5 then return false, "length " .. #name end
        if input.claims.role ~= "admin\\0x" then return false, "cut at NUL" end
        return true
      end`);
    expect((await bed.request(proxy, { claims: { name: 'Zoë ☃', role: 'admin\u0000x' } })).status).toBe(200);
  });

  test('the function gets the request: method, path, host and headers', async () => {
    const proxy = await luaVerifier(`
      function verify(input)
        local r = input.request
        if r.method == "DELETE" and r.path == "/app/items" and r.headers["x-team"] == "payments" then return true end
        return false, r.method .. " " .. r.path
      end`);
    expect((await bed.request(proxy, { method: 'DELETE', path: '/app/items?id=3', headers: { 'x-team': 'payments' } })).status).toBe(200);
    expect(await bed.request(proxy, { path: '/app/items' })).toMatchObject({ status: 403, body: `${REFUSED}GET /app/items` });
  });

  test('a module-style script returns a table with the function; `function` names another one', async () => {
    const proxy = await luaVerifier(
      `
      local policy = {}
      function policy.allow_staff(input) return input.claims.email:sub(-12) == "@example.com" end
      return policy`,
      'function: allow_staff, message: staff only',
    );
    expect((await bed.request(proxy)).status).toBe(200);
    expect(await bed.request(proxy, { claims: { email: 'eve@evil.test' } })).toMatchObject({ status: 403, body: `${REFUSED}staff only` });
  });
});

describe('scripts that do not load stop the start, at the YAML path', () => {
  test("a syntax error gives Lua's message and line", async () => {
    const error = await startError('function verify(input)\n  if input.claims.email then\n    return true\nend\n');
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      new RegExp(`^${VERIFIER_PATH.replace(/[[\].]/g, '\\$&')}\\.options\\.script: .*rule-\\d+\\.lua:4: 'end' expected \\(to close 'function' at line 1\\) near <eof> \\(not valid Lua 5\\.4\\)$`),
    );
  });

  test('an error while the script runs its top level', async () => {
    const error = await startError('local limits = nil\nlocal max = limits.max\nfunction verify() return true end\n');
    expect(error.message).toMatch(/\.options\.script: .*rule-\d+\.lua:2: attempt to index a nil value \(local 'limits'\) \(when the script was loaded\)$/);
  });

  test('no function of that name', async () => {
    const error = await startError('function check(input) return true end');
    expect(error.message).toMatch(
      /\.options\.function: the script defines no global function verify \(verify is a nil value\): define function verify\(input\) in .*rule-\d+\.lua, or name another function here$/,
    );
  });

  test('a file that cannot be read', async () => {
    const error = await bed.verifier(['{type: lua, options: {script: /nonexistent/policy.lua}}']).then(
      (proxy) => track(proxy) && undefined,
      (failure: Error) => failure,
    );
    expect(error?.message).toMatch(/\.options\.script: cannot read \/nonexistent\/policy\.lua: ENOENT/);
  });

  test('a top level that never ends is stopped by the time bound', async () => {
    const error = await startError('while true do end', 'timeout: 50ms');
    expect(error.message).toMatch(/\.options\.script: the script ran longer than 50ms when loaded$/);
  });
});

describe('bounds: the request is refused within them and the proxy answers the next one', () => {
  const LOOPS = `
    function verify(input)
      local path = input.request.path
      if path == "/loop" then while true do end end
      if path == "/caught" then
        -- pcall catches the first timeout error, not the ones after it.
        while true do pcall(function() while true do end end) end
      end
      if path == "/handler" then
        while true do xpcall(function() while true do end end, function() while true do end end) end
      end
      if path == "/hog" then
        local t = {}
        while true do t[#t + 1] = string.rep("x", 1024 * 1024) .. #t end
      end
      if path == "/hog-caught" then
        while true do pcall(string.rep, "x", 1024 * 1024 * 1024) end
      end
      return true
    end`;

  test.each(['/loop', '/caught', '/handler'])('a script that loops forever (%s) is refused after its timeout', async (path) => {
    const lines: Record<string, unknown>[] = [];
    const proxy = await luaVerifier(LOOPS, 'timeout: 50ms', capturingLogger(lines));
    const startedAt = Date.now();
    expect(await bed.request(proxy, { path })).toMatchObject({ status: 403, body: `${REFUSED}the Lua rule failed` });
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(await bed.request(proxy, { path: '/fine' })).toMatchObject({ status: 200, body: 'ok' });
    expect(lines.find((line) => line.msg === 'request refused')).toMatchObject({ code: 'claims_refused', cause: `${VERIFIER_PATH}: verify ran longer than its 50ms bound` });
  });

  test('a script that allocates without end is refused at its memory limit, before its timeout', async () => {
    const lines: Record<string, unknown>[] = [];
    const proxy = await luaVerifier(LOOPS, 'timeout: 10s, memory_limit: 16MiB', capturingLogger(lines));
    const startedAt = Date.now();
    expect(await bed.request(proxy, { path: '/hog' })).toMatchObject({ status: 403, body: `${REFUSED}the Lua rule failed` });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    expect(await bed.request(proxy, { path: '/fine' })).toMatchObject({ status: 200, body: 'ok' });
    expect(lines.find((line) => line.msg === 'request refused')).toMatchObject({ cause: `${VERIFIER_PATH}: verify needed more than its 16MiB memory bound (not enough memory)` });
  });

  test('allocation failures the script catches still end at the timeout', async () => {
    const proxy = await luaVerifier(LOOPS, 'timeout: 50ms, memory_limit: 4MiB');
    expect(await bed.request(proxy, { path: '/hog-caught' })).toMatchObject({ status: 403 });
    expect((await bed.request(proxy, { path: '/fine' })).status).toBe(200);
  });

  test('a call stopped by a bound leaves nothing behind: the script starts afresh', async () => {
    const proxy = await luaVerifier(
      `
      calls = 0
      function verify(input)
        calls = calls + 1
        if input.request.path == "/loop" then while true do end end
        return false, "call " .. calls
      end`,
      'timeout: 50ms',
    );
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}call 1`);
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}call 2`);
    expect((await bed.request(proxy, { path: '/loop' })).body).toBe(`${REFUSED}the Lua rule failed`);
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}call 1`);
  });
});

describe('failures refuse the request (fail closed), the cause in the log', () => {
  test('a runtime error names the script line', async () => {
    const lines: Record<string, unknown>[] = [];
    const proxy = await luaVerifier('function verify(input)\n  return input.claims.custom.department == "sales"\nend', '', capturingLogger(lines));
    expect(await bed.request(proxy, { claims: { custom: undefined } })).toMatchObject({ status: 403, body: `${REFUSED}the Lua rule failed` });
    expect(lines.find((line) => line.msg === 'request refused')?.cause).toMatch(/rule-\d+\.lua:2: attempt to index a nil value \(field 'custom'\)$/);
  });

  test.each([
    ['nothing', 'return', 'nothing'],
    ['a string', 'return "yes"', 'the string "yes"'],
    ['a table', 'return {}', 'a table'],
    ['a number', 'return 1', 'the number 1'],
  ])('returning %s refuses', async (_name, body, described) => {
    const lines: Record<string, unknown>[] = [];
    const proxy = await luaVerifier(`function verify() ${body} end`, '', capturingLogger(lines));
    expect(await bed.request(proxy)).toMatchObject({ status: 403, body: `${REFUSED}the Lua rule failed` });
    expect(lines.find((line) => line.msg === 'request refused')?.cause).toBe(`${VERIFIER_PATH}: verify returned ${described}; it must return true, or false and a message`);
  });

  test('false without a message gives the configured one, or names the function and script', async () => {
    const proxy = await luaVerifier('function verify() return false end');
    expect((await bed.request(proxy)).body).toMatch(new RegExp(`^${REFUSED.replace(/[:]/g, '\\$&')}refused by verify in rule-\\d+\\.lua$`));
    const withMessage = await luaVerifier('function verify() return false end', 'message: not today');
    expect((await bed.request(withMessage)).body).toBe(`${REFUSED}not today`);
  });

  test('a message is sent without its control characters, and capped', async () => {
    const proxy = await luaVerifier('function verify() return false, "line one\\r\\nSet-Cookie: x=1\\0" .. string.rep("a", 1000) end');
    const answer = await bed.request(proxy);
    expect(answer.status).toBe(403);
    expect(answer.body.startsWith(`${REFUSED}line one Set-Cookie: x=1 aaaa`)).toBe(true);
    expect(answer.body.length).toBe(REFUSED.length + 256);
    expect(answer.headers['set-cookie']).toBeUndefined();
  });
});

describe('the sandbox', () => {
  test('no files, processes, modules, output or binary chunks; os keeps its clock', async () => {
    const proxy = await luaVerifier(`
      function verify()
        local absent = { io = io, require = require, dofile = dofile, loadfile = loadfile, print = print, debug = debug,
          package = package, execute = os.execute, exit = os.exit, getenv = os.getenv, remove = os.remove }
        for name, value in pairs(absent) do return false, name .. " is there" end
        if type(os.time()) ~= "number" or type(os.clock()) ~= "number" then return false, "no clock" end
        local binary = string.dump(function() return 1 end)
        local chunk, problem = load(binary)
        if chunk ~= nil or not problem:find("binary chunk") then return false, "binary chunk loaded" end
        if load("return 6 * 7")() ~= 42 then return false, "no text chunks" end
        return true
      end`);
    expect(await bed.request(proxy)).toMatchObject({ status: 200 });
  });

  test('finalizers are refused: they would run outside the time bound', async () => {
    const proxy = await luaVerifier(`
      function verify()
        local ok, problem = pcall(setmetatable, {}, { __gc = function() while true do end end })
        if ok then return false, "a finalizer was set" end
        return false, problem
      end`);
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}__gc metamethods are not available in claims verifiers`);
  });

  test('string.rep gives what Lua gives, checks its arguments as Lua does, and a huge count of "" ends at once', async () => {
    const proxy = await luaVerifier(`
      function verify()
        local checks = {
          string.rep("ab", 3) == "ababab", string.rep("ab", 3, ",") == "ab,ab,ab", string.rep("x", 0) == "", string.rep("x", -2) == "",
          string.rep(5, 3) == "555", string.rep("x", 2.0) == "xx", ("z"):rep(5) == "zzzzz", string.rep("ab", 1, ",") == "ab",
          string.rep("", 1e12) == "", #string.rep("x", 1048576 + 3) == 1048579, string.rep("ab", 4, "--") == "ab--ab--ab--ab",
        }
        for i = 1, 11 do if not checks[i] then return false, "check " .. i end end
        for _, case in ipairs({ { {}, 2, "#1" }, { "x", 1.5, "number has no integer representation" }, { "x", nil, "#2" } }) do
          local ok, problem = pcall(string.rep, case[1], case[2])
          if ok or not problem:find(case[3], 1, true) then return false, tostring(problem) end
        end
        return true
      end`);
    expect(await bed.request(proxy)).toMatchObject({ status: 200 });
  });

  test('xpcall still hands the error to its handler', async () => {
    const proxy = await luaVerifier('function verify() return xpcall(function() error("inner", 0) end, function(e) return "handled " .. e end) end');
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}handled inner`);
  });
});

describe('reload (SIGHUP)', () => {
  test('the script is read again; one that does not load keeps the previous one', async () => {
    const script = await bed.script('function verify() return false, "version 1" end', 'reloaded.lua');
    const proxy = track(await bed.verifier([`{type: lua, options: {script: ${JSON.stringify(script)}}}`]));
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}version 1`);
    await fs.writeFile(script, 'function verify() return false, "version 2" end');
    await proxy.reload();
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}version 2`);
    await fs.writeFile(script, 'function verify() return false, "version 3" ');
    await expect(proxy.reload()).rejects.toThrow(/options\.script: .*reloaded\.lua:1: 'end' expected near <eof>/);
    expect((await bed.request(proxy)).body).toBe(`${REFUSED}version 2`);
  });
});
