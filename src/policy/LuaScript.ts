// A Lua 5.4 function called with a JavaScript value, in a sandbox with a time and a memory bound
// per call. The interpreter is the reference one compiled to WebAssembly (wasmoon): 64-bit
// integers, real string and table semantics. One Lua state per script, called synchronously:
// a state is single-threaded and a call never yields, so calls are serialised by the event loop.
import { LUA_REGISTRYINDEX, LuaEventMasks, LuaFactory, LuaReturn, LuaType, type LuaWasm } from 'wasmoon';
import { formatByteSize } from '../config/byteSize';
import { JwtproxyError } from '../util/JwtproxyError';
import { boundedPatternFunctions } from './luaPatterns';

export interface LuaScriptOptions {
  source: string;
  /** Names the chunk in Lua's messages, e.g. "policy.lua" gives "policy.lua:3: …". */
  chunkName: string;
  /** The global function to call, or the field of the table the chunk returns. */
  functionName: string;
  timeoutMs: number;
  memoryLimitBytes: number;
}

export type LuaScriptErrorCode = 'ERR_LUA_SYNTAX' | 'ERR_LUA_NO_FUNCTION' | 'ERR_LUA_RUNTIME' | 'ERR_LUA_TIMEOUT' | 'ERR_LUA_MEMORY' | 'ERR_LUA_INPUT' | 'ERR_LUA_ENGINE';

export class LuaScriptError extends JwtproxyError {
  constructor(
    readonly code: LuaScriptErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A Lua value as JavaScript sees a result: scalars as they are, anything else by its Lua type name. */
export type LuaResult = boolean | number | string | null | { luaType: string };

/** How often (in VM instructions) the deadline is checked: every few microseconds of Lua. */
const INSTRUCTIONS_PER_CHECK = 1000;
/** Claims nest at most 32 deep (the token parser's bound); anything deeper is not a policy input. */
const MAX_INPUT_DEPTH = 64;
const INT64_LIMIT = 2 ** 63;
/** Where the registry keeps the globals table. */
const LUA_RIDX_GLOBALS = 2n;

// Runs once in each state before the script. Finalizers (__gc) and xpcall's message handler
// run with Lua's hooks off, out of reach of the time bound: finalizers are refused, and the
// handler runs after the stack unwinds. string.rep copies byte by byte in one C call (~10 ms
// a MB here, and rep("", 1e10) never ends): it builds by doubling instead, its arguments
// checked by the original. No files, no process, no output, no binary chunks. The pattern
// functions (find, match, gmatch, gsub) are bounded too: see luaPatterns.
const SANDBOX = `
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

/** The C API functions called per request, straight from the WebAssembly instance. */
interface LuaApi {
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
  'malloc', 'free', 'realloc', 'lua_newstate', 'lua_close', 'lua_settop', 'lua_rawgeti', 'lua_pushlstring', 'lua_pushinteger', 'lua_pushnumber',
  'lua_pushboolean', 'lua_pushnil', 'lua_createtable', 'lua_rawset', 'lua_rawget', 'lua_rawseti', 'lua_checkstack', 'lua_pcallk', 'lua_sethook',
  'lua_gethookcount', 'lua_error', 'lua_type', 'lua_toboolean', 'lua_isinteger', 'lua_tointegerx', 'lua_tonumberx', 'lua_tolstring',
];

interface Instance {
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
async function instantiate(): Promise<Instance> {
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

interface State {
  /** The WebAssembly instance the state lives in (a restart makes a new one). */
  instance: Instance;
  address: number;
  allocator: number;
  hook: number;
  functionRef: number;
  /** Bytes Lua holds, and how many it may hold (unbounded outside protected calls). */
  used: number;
  limit: number;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export class LuaScript {
  private state?: State;
  /** Where strings are encoded before Lua copies them (outside Lua's own, bounded, allocations). */
  private scratch = 0;
  private scratchSize = 0;
  /** performance.now() after which the running call is stopped. */
  private deadline = 0;
  private expired = false;
  /** Set when the WebAssembly instance failed: calls fail until a new one is ready. */
  private restarting?: Promise<void>;

  private constructor(
    private instance: Instance,
    private readonly options: LuaScriptOptions,
  ) {}

  /** Compiles and runs the chunk, and finds the function; throws LuaScriptError. */
  static async load(options: LuaScriptOptions): Promise<LuaScript> {
    const script = new LuaScript(await instantiate(), options);
    script.state = script.createState();
    return script;
  }

  /** Bytes the Lua state holds now. */
  get memoryUsed(): number {
    return this.state?.used ?? 0;
  }

  /**
   * Calls the function with `input` converted to Lua (objects and arrays as tables), and returns
   * its first `results` results. Throws LuaScriptError; after a timeout or a memory failure the
   * state is rebuilt from the script, so a half-done call leaves nothing behind.
   */
  call(input: unknown, results = 2): LuaResult[] {
    if (this.restarting) throw new LuaScriptError('ERR_LUA_ENGINE', 'the Lua engine failed and is restarting');
    try {
      const state = (this.state ??= this.createState());
      return this.callIn(state, input, results);
    } catch (error) {
      if (error instanceof LuaScriptError) throw error;
      // A WebAssembly trap: the instance's own stack may be left anywhere. Start afresh.
      this.restart();
      throw new LuaScriptError('ERR_LUA_ENGINE', `the Lua engine failed: ${(error as Error).message}`);
    }
  }

  close(): void {
    if (this.state) this.closeState(this.state);
    this.state = undefined;
    if (this.scratch) this.instance.api.free(this.scratch);
    this.scratch = 0;
    this.scratchSize = 0;
  }

  private callIn(state: State, input: unknown, results: number): LuaResult[] {
    const { api } = this.instance;
    const L = state.address;
    api.lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(state.functionRef));
    try {
      this.push(L, input, 0);
    } catch (error) {
      api.lua_settop(L, 0);
      throw error;
    }
    const status = this.protectedCall(state, 1, results);
    if (status !== LuaReturn.Ok) throw this.failure(state, status);
    if (performance.now() > this.deadline) {
      // Past the bound inside one C function (string.rep, table.concat…), which the hook cannot stop: refused all the same.
      api.lua_settop(L, 0);
      throw new LuaScriptError('ERR_LUA_TIMEOUT', `${this.options.functionName} ran longer than its ${this.options.timeoutMs}ms bound`);
    }
    const values: LuaResult[] = [];
    for (let index = -results; index < 0; index++) values.push(this.value(L, index));
    api.lua_settop(L, 0);
    return values;
  }

  /** lua_pcall under the time and memory bounds (the count hook stays set: it only checks the deadline). */
  private protectedCall(state: State, args: number, results: number): LuaReturn {
    this.expired = false;
    this.deadline = performance.now() + this.options.timeoutMs;
    state.limit = this.options.memoryLimitBytes;
    try {
      return this.instance.api.lua_pcallk(state.address, args, results, 0, 0, 0);
    } finally {
      // Outside a protected call an allocation failure would abort the VM.
      state.limit = Infinity;
    }
  }

  /** The error of a failed call; a call stopped by a bound also drops the state. */
  private failure(state: State, status: LuaReturn): LuaScriptError {
    const message = this.errorText(state.address);
    this.instance.api.lua_settop(state.address, 0);
    const { functionName, timeoutMs, memoryLimitBytes } = this.options;
    if (!this.expired && status !== LuaReturn.ErrorMem) return new LuaScriptError('ERR_LUA_RUNTIME', message);
    // Freeing a full state object by object takes milliseconds: after the refusal has gone out.
    if (this.state === state) this.state = undefined;
    setImmediate(() => this.closeState(state));
    if (this.expired) return new LuaScriptError('ERR_LUA_TIMEOUT', `${functionName} ran longer than its ${timeoutMs}ms bound`);
    return new LuaScriptError('ERR_LUA_MEMORY', `${functionName} needed more than its ${formatByteSize(memoryLimitBytes)} memory bound (${message})`);
  }

  /** The error object as text, without calling its metamethods (they would run unprotected). */
  private errorText(L: number): string {
    const type = this.instance.api.lua_type(L, -1);
    if (type === LuaType.String || type === LuaType.Number) return this.stringAt(L, -1);
    return `(error object is a ${this.instance.wasm.lua_typename(L, type)} value)`;
  }

  private value(L: number, index: number): LuaResult {
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
  private stringAt(L: number, index: number): string {
    const { api, wasm } = this.instance;
    this.reserveScratch(8);
    const pointer = api.lua_tolstring(L, index, this.scratch);
    const heap = wasm.module.HEAPU8;
    const length = heap[this.scratch] | (heap[this.scratch + 1] << 8) | (heap[this.scratch + 2] << 16) | (heap[this.scratch + 3] << 24);
    return fromUtf8.decode(heap.subarray(pointer, pointer + length));
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

  /** Pushes a JSON-like value: integers within 64 bits as Lua integers, other numbers as floats, null as nil. */
  private push(L: number, value: unknown, depth: number): void {
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
  private pushString(L: number, text: string): void {
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

  /** A state with the sandbox, the script run once, and a reference to its function. */
  private createState(): State {
    const { api, wasm } = this.instance;
    const state: State = { instance: this.instance, address: 0, allocator: 0, hook: 0, functionRef: 0, used: 0, limit: Infinity };
    state.allocator = wasm.module.addFunction((_userData: number, pointer: number, oldSize: number, newSize: number) => {
      if (newSize === 0) {
        if (pointer) {
          state.used -= oldSize;
          api.free(pointer);
        }
        return 0;
      }
      // Without a block, oldSize is the kind of object, not a size.
      const growth = pointer ? newSize - oldSize : newSize;
      if (growth > 0 && state.used + growth > state.limit) return 0;
      const block = api.realloc(pointer, newSize);
      if (block) state.used += growth;
      return block;
    }, 'iiiii');
    state.hook = wasm.module.addFunction((running: number) => this.checkDeadline(state, running), 'vii');
    state.address = api.lua_newstate(state.allocator, 0);
    try {
      if (!state.address) throw new LuaScriptError('ERR_LUA_ENGINE', 'no memory for a Lua state');
      const L = state.address;
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
      api.lua_sethook(L, state.hook, LuaEventMasks.Count, INSTRUCTIONS_PER_CHECK);
      this.run(state, SANDBOX, '=sandbox');
      this.run(state, boundedPatternFunctions(this.options.timeoutMs), '=sandbox');
      const returned = this.run(state, this.options.source, `@${this.options.chunkName}`);
      state.functionRef = this.findFunction(state, returned);
      return state;
    } catch (error) {
      this.closeState(state);
      throw error;
    }
  }

  /** Loads and runs a chunk under the bounds; returns whether it returned a table (left on the stack). */
  private run(state: State, source: string, chunkName: string): boolean {
    const { api, wasm } = this.instance;
    const L = state.address;
    const loaded = wasm.luaL_loadbufferx(L, source, wasm.module.lengthBytesUTF8(source), chunkName, 't');
    if (loaded !== LuaReturn.Ok) {
      const message = this.errorText(L);
      api.lua_settop(L, 0);
      throw new LuaScriptError('ERR_LUA_SYNTAX', message);
    }
    const status = this.protectedCall(state, 0, 1);
    if (status !== LuaReturn.Ok) {
      const failure = this.expired
        ? new LuaScriptError('ERR_LUA_TIMEOUT', `the script ran longer than ${this.options.timeoutMs}ms when loaded`)
        : new LuaScriptError(status === LuaReturn.ErrorMem ? 'ERR_LUA_MEMORY' : 'ERR_LUA_RUNTIME', `${this.errorText(L)} (when the script was loaded)`);
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
  private findFunction(state: State, returnedTable: boolean): number {
    const { api, wasm } = this.instance;
    const L = state.address;
    const { functionName } = this.options;
    if (!returnedTable) api.lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    this.pushString(L, functionName);
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

  /**
   * The count hook. Past the deadline it raises an error, and from then on raises one at every
   * instruction of every thread it reaches: a script's pcall may catch the first, but the
   * instruction after pcall raises again, so the error climbs out whatever the script catches.
   */
  private checkDeadline(state: State, running: number): void {
    const { api, wasm } = this.instance;
    if (!this.expired) {
      if (performance.now() <= this.deadline) return;
      this.expired = true;
      api.lua_sethook(state.address, state.hook, LuaEventMasks.Count, 1);
      if (running !== state.address) api.lua_sethook(running, state.hook, LuaEventMasks.Count, 1);
    } else if (running !== state.address && api.lua_gethookcount(running) !== 1) {
      api.lua_sethook(running, state.hook, LuaEventMasks.Count, 1);
    }
    wasm.lua_pushstring(running, 'the time bound is exceeded');
    api.lua_error(running);
  }

  private closeState(state: State): void {
    if (!state.allocator) return;
    const { api, wasm } = state.instance;
    try {
      if (state.address) {
        api.lua_sethook(state.address, 0, 0, 0);
        api.lua_close(state.address);
      }
    } finally {
      wasm.module.removeFunction(state.hook);
      wasm.module.removeFunction(state.allocator);
      state.address = state.hook = state.allocator = 0;
    }
  }

  private restart(): void {
    this.state = undefined;
    this.scratch = 0;
    this.scratchSize = 0;
    this.restarting = instantiate().then(
      (instance) => {
        this.instance = instance;
        this.restarting = undefined;
      },
      () => {
        this.restarting = undefined;
      },
    );
  }
}
