// The Lua 5.4 reference interpreter compiled to WebAssembly (wasmoon): one instance per script,
// so each script has its own memory, with the C API functions a call uses taken straight from it.
import { LuaFactory, type LuaWasm } from 'wasmoon';

/** The C API functions called per request, straight from the WebAssembly instance. */
export interface LuaApi {
  malloc(size: number): number;
  free(pointer: number): void;
  realloc(pointer: number, size: number): number;
  lua_newstate(allocator: number, userData: number): number;
  lua_close(L: number): void;
  lua_settop(L: number, index: number): void;
  lua_rawgeti(L: number, index: number, n: bigint): number;
  lua_pushlstring(L: number, pointer: number, length: number): number;
  lua_pushinteger(L: number, n: bigint): void;
  lua_pushnumber(L: number, n: number): void;
  lua_pushboolean(L: number, b: number): void;
  lua_pushnil(L: number): void;
  lua_createtable(L: number, arrayCount: number, recordCount: number): void;
  lua_rawset(L: number, index: number): void;
  lua_rawget(L: number, index: number): number;
  lua_rawseti(L: number, index: number, n: bigint): void;
  lua_checkstack(L: number, n: number): number;
  lua_pcallk(L: number, args: number, results: number, errorFunction: number, context: number, continuation: number): number;
  lua_sethook(L: number, hook: number, mask: number, count: number): void;
  lua_gethookcount(L: number): number;
  lua_error(L: number): number;
  lua_type(L: number, index: number): number;
  lua_toboolean(L: number, index: number): number;
  lua_isinteger(L: number, index: number): number;
  lua_tointegerx(L: number, index: number, isNumber: number): bigint;
  lua_tonumberx(L: number, index: number, isNumber: number): number;
  lua_tolstring(L: number, index: number, length: number): number;
}

const API_NAMES: (keyof LuaApi)[] = [
  'malloc',
  'free',
  'realloc',
  'lua_newstate',
  'lua_close',
  'lua_settop',
  'lua_rawgeti',
  'lua_pushlstring',
  'lua_pushinteger',
  'lua_pushnumber',
  'lua_pushboolean',
  'lua_pushnil',
  'lua_createtable',
  'lua_rawset',
  'lua_rawget',
  'lua_rawseti',
  'lua_checkstack',
  'lua_pcallk',
  'lua_sethook',
  'lua_gethookcount',
  'lua_error',
  'lua_type',
  'lua_toboolean',
  'lua_isinteger',
  'lua_tointegerx',
  'lua_tonumberx',
  'lua_tolstring',
];

export interface LuaInstance {
  wasm: LuaWasm;
  api: LuaApi;
}

interface WebAssemblyGlobal {
  instantiate(...args: unknown[]): Promise<{ instance?: { exports: Record<string, unknown> }; exports?: Record<string, unknown> }>;
}

let instantiating: Promise<unknown> = Promise.resolve();

/**
 * A fresh WebAssembly instance of the interpreter, so each script has its own memory. wasmoon's
 * build wraps each export in a checking function that costs more than most calls themselves
 * (~0.1 µs, dozens per request): the exports are taken from the instance as it is created, one
 * instantiation at a time, and the wrappers are the fallback.
 */
export async function instantiate(): Promise<LuaInstance> {
  const previous = instantiating;
  let finished!: () => void;
  instantiating = new Promise<void>((resolve) => (finished = resolve));
  await previous;
  const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyGlobal }).WebAssembly;
  const native = webAssembly.instantiate;
  let exports: Record<string, unknown> | undefined;
  webAssembly.instantiate = async (...args: unknown[]) => {
    const result = await native.apply(webAssembly, args);
    const found = result.instance?.exports ?? result.exports;
    if (found && typeof found.lua_newstate === 'function') exports = found;
    return result;
  };
  try {
    const wasm = await new LuaFactory().getLuaModule();
    const wrapped = wasm.module as unknown as Record<string, unknown>;
    const api = {} as Record<string, unknown>;
    for (const name of API_NAMES) api[name] = exports?.[name] ?? wrapped[`_${name}`];
    return { wasm, api: api as unknown as LuaApi };
  } finally {
    webAssembly.instantiate = native;
    finished();
  }
}
