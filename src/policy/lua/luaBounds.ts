// The time and memory bounds of a Lua script's calls. Memory: every allocation of the state goes
// through an allocator that refuses the one that would pass the limit. Time: a count hook checks
// the deadline every few microseconds of Lua and, once past it, raises an error that no pcall of
// the script can swallow.
import { LuaEventMasks, type LuaReturn } from 'wasmoon';
import type { LuaInstance } from './luaEngine';
import { LuaScriptError } from './LuaScriptError';

/** How often (in VM instructions) the deadline is checked: every few microseconds of Lua. */
const INSTRUCTIONS_PER_CHECK = 1000;

/** A Lua state whose allocations and instructions are counted against the bounds. */
export interface BoundedState {
  /** The WebAssembly instance the state lives in (a restart makes a new one). */
  instance: LuaInstance;
  address: number;
  allocator: number;
  hook: number;
  /** Bytes Lua holds, and how many it may hold (unbounded outside protected calls). */
  used: number;
  limit: number;
}

export class LuaBounds {
  /** performance.now() after which the running call is stopped. */
  private deadline = 0;
  private stopped = false;

  constructor(
    readonly timeoutMs: number,
    readonly memoryLimitBytes: number,
  ) {}

  /** Whether the last protected call was stopped by the time bound. */
  get expired(): boolean {
    return this.stopped;
  }

  /** Whether the last protected call's deadline has passed, even inside one C function the hook cannot stop. */
  get pastDeadline(): boolean {
    return performance.now() > this.deadline;
  }

  /** A new Lua state under these bounds; throws LuaScriptError when there is no memory for one. */
  newState(instance: LuaInstance): BoundedState {
    const { api, wasm } = instance;
    const state: BoundedState = { instance, address: 0, allocator: 0, hook: 0, used: 0, limit: Infinity };
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
    if (!state.address) {
      closeBoundedState(state);
      throw new LuaScriptError('ERR_LUA_ENGINE', 'no memory for a Lua state');
    }
    return state;
  }

  /** Sets the count hook: from now on the state's Lua code runs under the time bound. */
  watch(state: BoundedState): void {
    state.instance.api.lua_sethook(state.address, state.hook, LuaEventMasks.Count, INSTRUCTIONS_PER_CHECK);
  }

  /** lua_pcall under the time and memory bounds (the count hook stays set: it only checks the deadline). */
  protectedCall(state: BoundedState, args: number, results: number): LuaReturn {
    this.stopped = false;
    this.deadline = performance.now() + this.timeoutMs;
    state.limit = this.memoryLimitBytes;
    try {
      return state.instance.api.lua_pcallk(state.address, args, results, 0, 0, 0);
    } finally {
      // Outside a protected call an allocation failure would abort the VM.
      state.limit = Infinity;
    }
  }

  /**
   * The count hook. Past the deadline it raises an error, and from then on raises one at every
   * instruction of every thread it reaches: a script's pcall may catch the first, but the
   * instruction after pcall raises again, so the error climbs out whatever the script catches.
   */
  private checkDeadline(state: BoundedState, running: number): void {
    const { api, wasm } = state.instance;
    if (!this.stopped) {
      if (performance.now() <= this.deadline) return;
      this.stopped = true;
      api.lua_sethook(state.address, state.hook, LuaEventMasks.Count, 1);
      if (running !== state.address) api.lua_sethook(running, state.hook, LuaEventMasks.Count, 1);
    } else if (running !== state.address && api.lua_gethookcount(running) !== 1) {
      api.lua_sethook(running, state.hook, LuaEventMasks.Count, 1);
    }
    wasm.lua_pushstring(running, 'the time bound is exceeded');
    api.lua_error(running);
  }
}

/** Closes the state and releases its allocator and hook; a state already closed is left alone. */
export function closeBoundedState(state: BoundedState): void {
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
