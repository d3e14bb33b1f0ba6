// What a script can reach: the libraries opened in its state, and the prelude run before it that
// takes out or bounds what would escape the sandbox or the time bound.
import type { LuaInstance } from './luaEngine';
import { boundedPatternFunctions } from './luaPatterns';

// Runs once in each state before the script. Finalizers (__gc) and xpcall's message handler
// run with Lua's hooks off, out of reach of the time bound: finalizers are refused, and the
// handler runs after the stack unwinds. string.rep copies byte by byte in one C call (~10 ms
// a MB here, and rep("", 1e10) never ends): it builds by doubling instead, its arguments
// checked by the original. No files, no process, no output, no binary chunks. The pattern
// functions (find, match, gmatch, gsub) are bounded too: see luaPatterns.
const PRELUDE = `
local setmetatable, rawget, type, error, load, pcall = setmetatable, rawget, type, error, load, pcall
local pack, unpack, rep, tointeger = table.pack, table.unpack, string.rep, math.tointeger
local function doubled(s, n)
  local result, piece = '', s
  while n > 0 do
    if n % 2 == 1 then result = result .. piece end
    n = n // 2
    if n > 0 then piece = piece .. piece end
  end
  return result
end
function string.rep(s, n, sep)
  rep(s, 0, sep)
  local count = tointeger(n)
  -- Not an integer: the original raises its argument error before doing any work.
  if count == nil then return rep(s, n, sep) end
  n = count
  if n <= 0 then return '' end
  if sep == nil or sep == '' then return doubled(s, n) end
  return s .. doubled(sep .. s, n - 1)
end
function _G.setmetatable(t, mt)
  if type(mt) == 'table' and rawget(mt, '__gc') ~= nil then
    error('__gc metamethods are not available in claims verifiers', 2)
  end
  return setmetatable(t, mt)
end
function _G.load(chunk, name, mode, ...) return load(chunk, name, 't', ...) end
function _G.xpcall(f, handler, ...)
  local results = pack(pcall(f, ...))
  if results[1] then return unpack(results, 1, results.n) end
  return false, handler(results[2])
end
dofile, loadfile, print = nil, nil, nil
os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
`;

/** The chunk name of the prelude in Lua's messages. */
export const SANDBOX_CHUNK_NAME = '=sandbox';

/** Opens the libraries a script may use (no io, no package: no files and no modules). */
export function openSandboxLibraries(instance: LuaInstance, L: number): void {
  const { api, wasm } = instance;
  for (const [name, open] of [
    ['_G', wasm.luaopen_base],
    ['table', wasm.luaopen_table],
    ['string', wasm.luaopen_string],
    ['math', wasm.luaopen_math],
    ['utf8', wasm.luaopen_utf8],
    ['coroutine', wasm.luaopen_coroutine],
    ['os', wasm.luaopen_os],
  ] as const) {
    open(L);
    if (name === '_G') api.lua_settop(L, 0);
    else wasm.lua_setglobal(L, name);
  }
}

/** The chunks run, in order, before the script: the prelude, then the bounded pattern functions. */
export function sandboxPrelude(timeoutMs: number): string[] {
  return [PRELUDE, boundedPatternFunctions(timeoutMs)];
}
