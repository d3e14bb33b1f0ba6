// Loading a script into a fresh state: the sandbox first, then the script's chunk run once, then
// its function found and kept as a registry reference for the calls.
import { LUA_REGISTRYINDEX, LuaReturn, LuaType } from 'wasmoon';
import { closeBoundedState, type BoundedState, type LuaBounds } from './luaBounds';
import type { LuaInstance } from './luaEngine';
import { openSandboxLibraries, SANDBOX_CHUNK_NAME, sandboxPrelude } from './luaSandbox';
import { LuaScriptError } from './LuaScriptError';
import type { LuaValues } from './luaValues';

/** Where the registry keeps the globals table. */
const LUA_RIDX_GLOBALS = 2n;

export interface ScriptSource {
  source: string;
  /** Names the chunk in Lua's messages, e.g. "policy.lua" gives "policy.lua:3: …". */
  chunkName: string;
  /** The global function to call, or the field of the table the chunk returns. */
  functionName: string;
}

/** A state with the script loaded: its function is the registry entry `functionRef`. */
export interface ScriptState {
  lua: BoundedState;
  functionRef: number;
}

/** A state with the sandbox, the script run once, and a reference to its function; throws LuaScriptError. */
export function loadScriptState(instance: LuaInstance, bounds: LuaBounds, values: LuaValues, script: ScriptSource): ScriptState {
  const state = bounds.newState(instance);
  try {
    openSandboxLibraries(instance, state.address);
    bounds.watch(state);
    for (const prelude of sandboxPrelude(bounds.timeoutMs)) runChunk(state, bounds, values, prelude, SANDBOX_CHUNK_NAME);
    const returned = runChunk(state, bounds, values, script.source, `@${script.chunkName}`);
    return { lua: state, functionRef: findFunction(state, values, script.functionName, returned) };
  } catch (error) {
    closeBoundedState(state);
    throw error;
  }
}

/** Loads and runs a chunk under the bounds; returns whether it returned a table (left on the stack). */
function runChunk(state: BoundedState, bounds: LuaBounds, values: LuaValues, source: string, chunkName: string): boolean {
  const { api, wasm } = state.instance;
  const L = state.address;
  const loaded = wasm.luaL_loadbufferx(L, source, wasm.module.lengthBytesUTF8(source), chunkName, 't');
  if (loaded !== LuaReturn.Ok) {
    const message = values.errorText(L);
    api.lua_settop(L, 0);
    throw new LuaScriptError('ERR_LUA_SYNTAX', message);
  }
  const status = bounds.protectedCall(state, 0, 1);
  if (status !== LuaReturn.Ok) {
    const failure = bounds.expired
      ? new LuaScriptError('ERR_LUA_TIMEOUT', `the script ran longer than ${bounds.timeoutMs}ms when loaded`)
      : new LuaScriptError(status === LuaReturn.ErrorMem ? 'ERR_LUA_MEMORY' : 'ERR_LUA_RUNTIME', `${values.errorText(L)} (when the script was loaded)`);
    api.lua_settop(L, 0);
    throw failure;
  }
  if (api.lua_type(L, -1) === LuaType.Table) return true;
  api.lua_settop(L, 0);
  return false;
}

/**
 * The function as a registry reference: a field of the returned table, else a global. Read raw:
 * outside a protected call no metamethod of the script may run.
 */
function findFunction(state: BoundedState, values: LuaValues, functionName: string, returnedTable: boolean): number {
  const { api, wasm } = state.instance;
  const L = state.address;
  if (!returnedTable) api.lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  values.pushString(L, functionName);
  const type = api.lua_rawget(L, -2);
  if (type !== LuaType.Function) {
    api.lua_settop(L, 0);
    const where = returnedTable ? `the table the script returns has no function ${functionName}` : `the script defines no global function ${functionName}`;
    throw new LuaScriptError('ERR_LUA_NO_FUNCTION', `${where} (${functionName} is a ${wasm.lua_typename(L, type)} value)`);
  }
  const ref = wasm.luaL_ref(L, LUA_REGISTRYINDEX);
  api.lua_settop(L, 0);
  return ref;
}
