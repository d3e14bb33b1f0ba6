// The replay store: remembers each token id (jti) until its token expires.
import { JwtproxyError } from '../util/JwtproxyError';

export interface NonceStore {
  /**
   * Records `jti` until `expiresAtMs` and resolves true, or resolves false when it
   * was already recorded. Atomic: of any number of concurrent claims of one jti,
   * exactly one resolves true. Rejects with NonceStoreUnavailableError when the
   * store cannot answer (the caller must refuse the request).
   */
  claim(jti: string, expiresAtMs: number): Promise<boolean>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** False while claims cannot be recorded (a shared store not connected): the verifier is not ready then. */
  ready?(): boolean;
}

export class NonceStoreUnavailableError extends JwtproxyError {
  readonly code = 'ERR_NONCE_STORE_UNAVAILABLE';
  /**
   * True when the store has logged the outage this refusal belongs to (and will log its end, with
   * the count of refusals): callers need not log each refused request above debug.
   */
  readonly outageReported: boolean;

  constructor(message: string, options?: { cause?: unknown; outageReported?: boolean }) {
    super(message, options);
    this.outageReported = options?.outageReported ?? false;
  }
}
