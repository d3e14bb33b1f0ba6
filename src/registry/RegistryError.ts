// Why the registry refuses a request: a stable code, the HTTP status it stands for, and a
// message that tells the publisher or operator what is wrong.
import { JwtproxyError } from '../util/JwtproxyError';
import { REGISTRY_VERDICTS } from '../verdicts/verdicts';

/** The registry's refusals: REGISTRY_VERDICTS gives each its status and log level. */
export type RegistryErrorCode = keyof typeof REGISTRY_VERDICTS;

export function isRegistryErrorCode(value: unknown): value is RegistryErrorCode {
  return typeof value === 'string' && Object.hasOwn(REGISTRY_VERDICTS, value);
}

export class RegistryError extends JwtproxyError {
  readonly status: number;
  /** When the request may succeed if sent again (a Retry-After header), in seconds. */
  readonly retryAfterSeconds?: number;

  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.status = REGISTRY_VERDICTS[code].status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}
