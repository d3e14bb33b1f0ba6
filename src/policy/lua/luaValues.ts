// Values between JavaScript and Lua: a JSON-like input pushed onto a state's stack (objects and
// arrays as tables, integers as 64-bit integers, strings with all their bytes), and results and
// error objects read back. Strings pass through a scratch buffer in the instance's memory,
// outside Lua's own, bounded, allocations.
import { LuaType } from 'wasmoon';
import type { LuaInstance } from './luaEngine';
import { LuaScriptError } from './LuaScriptError';

/** A Lua value as JavaScript sees a result: scalars as they are, anything else by its Lua type name. */
export type LuaResult = boolean | number | string | null | { luaType: string };

/** Claims nest at most 32 deep (the token parser's bound); anything deeper is not a policy input. */
const MAX_INPUT_DEPTH = 64;
const INT64_LIMIT = 2 ** 63;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class LuaValues {
  /** Where strings are encoded before Lua copies them. */
  private scratch = 0;
  private scratchSize = 0;

  constructor(private readonly instance: LuaInstance) {}

  /** Pushes a JSON-like value: integers within 64 bits as Lua integers, other numbers as floats, null as nil. */
  push(L: number, value: unknown, depth = 0): void {
    const { api } = this.instance;
    switch (typeof value) {
      case 'string':
        this.pushString(L, value);
        return;
      case 'number':
        if (Number.isInteger(value) && value >= -INT64_LIMIT && value < INT64_LIMIT) api.lua_pushinteger(L, BigInt(value));
        else api.lua_pushnumber(L, value);
        return;
      case 'bigint':
        if (value >= -(2n ** 63n) && value < 2n ** 63n) api.lua_pushinteger(L, value);
        else api.lua_pushnumber(L, Number(value));
        return;
      case 'boolean':
        api.lua_pushboolean(L, value ? 1 : 0);
        return;
      case 'object':
        if (value === null) break;
        if (depth >= MAX_INPUT_DEPTH) throw new LuaScriptError('ERR_LUA_INPUT', `the input nests deeper than ${MAX_INPUT_DEPTH} levels`);
        if (!api.lua_checkstack(L, 3)) throw new LuaScriptError('ERR_LUA_INPUT', 'the Lua stack cannot grow');
        if (Array.isArray(value)) {
          api.lua_createtable(L, value.length, 0);
          for (let i = 0; i < value.length; i++) {
            this.push(L, value[i], depth + 1);
            api.lua_rawseti(L, -2, BigInt(i + 1));
          }
        } else {
          const keys = Object.keys(value);
          api.lua_createtable(L, 0, keys.length);
          for (const key of keys) {
            this.pushString(L, key);
            this.push(L, (value as Record<string, unknown>)[key], depth + 1);
            api.lua_rawset(L, -3);
          }
        }
        return;
    }
    api.lua_pushnil(L);
  }

  /** With its byte length: a NUL inside a claim must not cut the string short. */
  pushString(L: number, text: string): void {
    const { api, wasm } = this.instance;
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.reserveScratch(text.length * 3);
    const heap = wasm.module.HEAPU8;
    let length = 0;
    // Most strings are short and ASCII: copied here, cheaper than a call into the encoder.
    if (text.length <= 64) {
      for (; length < text.length; length++) {
        const code = text.charCodeAt(length);
        if (code >= 0x80) break;
        heap[this.scratch + length] = code;
      }
    }
    if (length < text.length) length = utf8.encodeInto(text, heap.subarray(this.scratch, this.scratch + this.scratchSize)).written;
    api.lua_pushlstring(L, this.scratch, length);
  }

  /** The value at `index` as a result. */
  valueAt(L: number, index: number): LuaResult {
    const { api, wasm } = this.instance;
    const type = api.lua_type(L, index);
    switch (type) {
      case LuaType.Nil:
      case LuaType.None:
        return null;
      case LuaType.Boolean:
        return api.lua_toboolean(L, index) !== 0;
      case LuaType.Number:
        return api.lua_isinteger(L, index) ? Number(api.lua_tointegerx(L, index, 0)) : api.lua_tonumberx(L, index, 0);
      case LuaType.String:
        return this.stringAt(L, index);
      default:
        return { luaType: wasm.lua_typename(L, type) };
    }
  }

  /** The string (or number, as Lua writes it) at `index`, all its bytes: a NUL does not end it. */
  stringAt(L: number, index: number): string {
    const { api, wasm } = this.instance;
    this.reserveScratch(8);
    const pointer = api.lua_tolstring(L, index, this.scratch);
    const heap = wasm.module.HEAPU8;
    const length = heap[this.scratch] | (heap[this.scratch + 1] << 8) | (heap[this.scratch + 2] << 16) | (heap[this.scratch + 3] << 24);
    return fromUtf8.decode(heap.subarray(pointer, pointer + length));
  }

  /** The error object on top of the stack as text, without calling its metamethods (they would run unprotected). */
  errorText(L: number): string {
    const type = this.instance.api.lua_type(L, -1);
    if (type === LuaType.String || type === LuaType.Number) return this.stringAt(L, -1);
    return `(error object is a ${this.instance.wasm.lua_typename(L, type)} value)`;
  }

  /** Frees the scratch buffer. */
  release(): void {
    if (this.scratch) this.instance.api.free(this.scratch);
    this.scratch = 0;
    this.scratchSize = 0;
  }

  /** At least `size` bytes of scratch space. */
  private reserveScratch(size: number): void {
    if (size <= this.scratchSize) return;
    const { api } = this.instance;
    if (this.scratch) api.free(this.scratch);
    this.scratchSize = Math.max(4096, size);
    this.scratch = api.malloc(this.scratchSize);
    if (!this.scratch) {
      this.scratchSize = 0;
      throw new LuaScriptError('ERR_LUA_INPUT', `no memory for ${size} bytes of scratch space`);
    }
  }
}
