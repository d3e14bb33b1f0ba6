// A policy evaluation stopped at its time bound: the request is refused (fail closed), and
// the cause is logged, never passed over like an absent claim.
export class PolicyTimeoutError extends Error {
  readonly code = 'ERR_POLICY_TIMEOUT';

  constructor(message: string) {
    super(message);
    this.name = 'PolicyTimeoutError';
  }
}
