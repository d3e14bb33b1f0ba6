// A policy evaluation stopped at its time bound: the request is refused (fail closed), and
// the cause is logged, never passed over like an absent claim.
import { JwtproxyError } from '../util/JwtproxyError';

export class PolicyTimeoutError extends JwtproxyError {
  readonly code = 'ERR_POLICY_TIMEOUT';
}
