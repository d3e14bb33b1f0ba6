// The one error a Lua script gives, with a stable code for each way a load or a call can fail.
import { JwtproxyError } from '../../util/JwtproxyError';

export type LuaScriptErrorCode = 'ERR_LUA_SYNTAX' | 'ERR_LUA_NO_FUNCTION' | 'ERR_LUA_RUNTIME' | 'ERR_LUA_TIMEOUT' | 'ERR_LUA_MEMORY' | 'ERR_LUA_INPUT' | 'ERR_LUA_ENGINE';

export class LuaScriptError extends JwtproxyError {
  constructor(
    readonly code: LuaScriptErrorCode,
    message: string,
  ) {
    super(message);
  }
}
