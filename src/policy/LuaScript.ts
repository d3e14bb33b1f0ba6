// A Lua 5.4 function called with a JavaScript value, in a sandbox with a time and a memory bound
// per call. The interpreter is the reference one compiled to WebAssembly (wasmoon): 64-bit
// integers, real string and table semantics. One Lua state per script, called synchronously:
// a state is single-threaded and a call never yields, so calls are serialised by the event loop.
// The parts are in lua/: the engine, loading, the sandbox, values in and out, and the bounds.
import { LUA_REGISTRYINDEX, LuaReturn } from 'wasmoon';
import { formatByteSize } from '../config/byteSize';
import { closeBoundedState, LuaBounds } from './lua/luaBounds';
import { instantiate, type LuaInstance } from './lua/luaEngine';
import { loadScriptState, type ScriptSource, type ScriptState } from './lua/luaLoading';
import { LuaScriptError } from './lua/LuaScriptError';
import { LuaValues, type LuaResult } from './lua/luaValues';

export { LuaScriptError, type LuaScriptErrorCode } from './lua/LuaScriptError';
export type { LuaResult } from './lua/luaValues';

export interface LuaScriptOptions extends ScriptSource {
  timeoutMs: number;
  memoryLimitBytes: number;
}

export class LuaScript {
  private state?: ScriptState;
  private values: LuaValues;
  private readonly bounds: LuaBounds;
  /** Set when the WebAssembly instance failed: calls fail until a new one is ready. */
  private restarting?: Promise<void>;

  private constructor(
    private instance: LuaInstance,
    private readonly options: LuaScriptOptions,
  ) {
    this.values = new LuaValues(instance);
    this.bounds = new LuaBounds(options.timeoutMs, options.memoryLimitBytes);
  }

  /** Compiles and runs the chunk, and finds the function; throws LuaScriptError. */
  static async load(options: LuaScriptOptions): Promise<LuaScript> {
    const script = new LuaScript(await instantiate(), options);
    script.state = script.loadState();
    return script;
  }

  /** Bytes the Lua state holds now. */
  get memoryUsed(): number {
    return this.state?.lua.used ?? 0;
  }

  /**
   * Calls the function with `input` converted to Lua (objects and arrays as tables), and returns
   * its first `results` results. Throws LuaScriptError; after a timeout or a memory failure the
   * state is rebuilt from the script, so a half-done call leaves nothing behind.
   */
  call(input: unknown, results = 2): LuaResult[] {
    if (this.restarting) throw new LuaScriptError('ERR_LUA_ENGINE', 'the Lua engine failed and is restarting');
    try {
      const state = (this.state ??= this.loadState());
      return this.callIn(state, input, results);
    } catch (error) {
      if (error instanceof LuaScriptError) throw error;
      // A WebAssembly trap: the instance's own stack may be left anywhere. Start afresh.
      this.restart();
      throw new LuaScriptError('ERR_LUA_ENGINE', `the Lua engine failed: ${(error as Error).message}`);
    }
  }

  close(): void {
    if (this.state) closeBoundedState(this.state.lua);
    this.state = undefined;
    this.values.release();
  }

  private loadState(): ScriptState {
    return loadScriptState(this.instance, this.bounds, this.values, this.options);
  }

  private callIn(state: ScriptState, input: unknown, results: number): LuaResult[] {
    const { api } = this.instance;
    const L = state.lua.address;
    api.lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(state.functionRef));
    try {
      this.values.push(L, input);
    } catch (error) {
      api.lua_settop(L, 0);
      throw error;
    }
    const status = this.bounds.protectedCall(state.lua, 1, results);
    if (status !== LuaReturn.Ok) throw this.failure(state, status);
    if (this.bounds.pastDeadline) {
      // Past the bound inside one C function (string.rep, table.concat…), which the hook cannot stop: refused all the same.
      api.lua_settop(L, 0);
      throw new LuaScriptError('ERR_LUA_TIMEOUT', `${this.options.functionName} ran longer than its ${this.options.timeoutMs}ms bound`);
    }
    const values: LuaResult[] = [];
    for (let index = -results; index < 0; index++) values.push(this.values.valueAt(L, index));
    api.lua_settop(L, 0);
    return values;
  }

  /** The error of a failed call; a call stopped by a bound also drops the state. */
  private failure(state: ScriptState, status: LuaReturn): LuaScriptError {
    const message = this.values.errorText(state.lua.address);
    this.instance.api.lua_settop(state.lua.address, 0);
    const { functionName, timeoutMs, memoryLimitBytes } = this.options;
    if (!this.bounds.expired && status !== LuaReturn.ErrorMem) return new LuaScriptError('ERR_LUA_RUNTIME', message);
    // Freeing a full state object by object takes milliseconds: after the refusal has gone out.
    if (this.state === state) this.state = undefined;
    setImmediate(() => closeBoundedState(state.lua));
    if (this.bounds.expired) return new LuaScriptError('ERR_LUA_TIMEOUT', `${functionName} ran longer than its ${timeoutMs}ms bound`);
    return new LuaScriptError('ERR_LUA_MEMORY', `${functionName} needed more than its ${formatByteSize(memoryLimitBytes)} memory bound (${message})`);
  }

  private restart(): void {
    this.state = undefined;
    // The failed instance's memory goes with it: its scratch space is not freed.
    this.values = new LuaValues(this.instance);
    this.restarting = instantiate().then(
      (instance) => {
        this.instance = instance;
        this.values = new LuaValues(instance);
        this.restarting = undefined;
      },
      () => {
        this.restarting = undefined;
      },
    );
  }
}
