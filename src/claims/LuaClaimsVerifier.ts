// A Lua function over the policy inputs, the claims verifier the Go README planned: it gets a
// table with `claims`, `request` and any further input, and returns true to let the request
// through, or false and a message. The script is loaded at start and again on SIGHUP (a script
// that does not load keeps the previous one); each call is bounded in time and memory, and a
// call that fails refuses the request, its cause in the log.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/ConfigError';
import { LuaScript, LuaScriptError, type LuaResult } from '../policy/LuaScript';
import { ClaimsVerifierError, type ClaimsVerifier, type PolicyInput } from './ClaimsVerifier';
import { refusalMessage } from './refusalMessage';
import type { LuaClaimsVerifierConfig } from './claimsVerifierTypes';

const LUA_RULE_FAILED = 'the Lua rule failed';

function describe(value: LuaResult): string {
  if (value === null) return 'nothing';
  if (typeof value === 'object') return `a ${value.luaType}`;
  return `${typeof value === 'string' ? 'the string' : `the ${typeof value}`} ${JSON.stringify(value)}`;
}

export class LuaClaimsVerifier implements ClaimsVerifier {
  private script?: LuaScript;

  constructor(private readonly config: LuaClaimsVerifierConfig) {}

  async start(): Promise<void> {
    this.script = await this.load();
  }

  /** Loads the script again; until it loads, the previous one stays in use. */
  async reload(): Promise<void> {
    const next = await this.load();
    this.script?.close();
    this.script = next;
  }

  async stop(): Promise<void> {
    this.script?.close();
    this.script = undefined;
  }

  verify(input: PolicyInput): string | undefined {
    const { functionName, path } = this.config;
    if (!this.script) throw new ClaimsVerifierError(LUA_RULE_FAILED, `${path}: the script is not loaded`);
    let allowed: LuaResult;
    let message: LuaResult;
    try {
      [allowed, message] = this.script.call(input);
    } catch (error) {
      if (error instanceof LuaScriptError) throw new ClaimsVerifierError(LUA_RULE_FAILED, `${path}: ${error.message}`);
      throw error;
    }
    if (allowed === true) return undefined;
    if (allowed === false) return refusalMessage(message) ?? this.config.message;
    throw new ClaimsVerifierError(LUA_RULE_FAILED, `${path}: ${functionName} returned ${describe(allowed)}; it must return true, or false and a message`);
  }

  /** Syntax and load errors are configuration errors at the script's (or the function's) YAML path. */
  private async load(): Promise<LuaScript> {
    const { script, functionName, timeoutMs, memoryLimitBytes, path } = this.config;
    let source: string;
    try {
      source = await readFile(script, 'utf8');
    } catch (error) {
      throw new ConfigError(`${path}.options.script`, `cannot read ${script}: ${(error as Error).message}`);
    }
    try {
      return await LuaScript.load({ source, chunkName: script, functionName, timeoutMs, memoryLimitBytes });
    } catch (error) {
      if (!(error instanceof LuaScriptError)) throw error;
      if (error.code === 'ERR_LUA_NO_FUNCTION') {
        throw new ConfigError(`${path}.options.function`, `${error.message}: define function ${functionName}(input) in ${script}, or name another function here`);
      }
      throw new ConfigError(`${path}.options.script`, error.code === 'ERR_LUA_SYNTAX' ? `${error.message} (not valid Lua 5.4)` : error.message);
    }
  }
}
