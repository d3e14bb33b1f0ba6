// Why the registry refuses a request: a stable code, the HTTP status it stands for, and a
// message that tells the publisher or operator what is wrong.
import { JwtproxyError } from '../util/JwtproxyError';

/** Each code and the HTTP status a protocol or admin response gives it. */
export const REGISTRY_ERROR_STATUS = {
  ERR_REGISTRY_BAD_REQUEST: 400,
  ERR_REGISTRY_INVALID_JWK: 400,
  ERR_REGISTRY_UNAUTHORIZED: 401,
  ERR_REGISTRY_BROWSER_REFUSED: 403,
  ERR_REGISTRY_SIGNER_REFUSED: 403,
  ERR_REGISTRY_KEY_EXPIRED: 403,
  ERR_REGISTRY_KEY_NOT_FOUND: 404,
  ERR_REGISTRY_METHOD_NOT_ALLOWED: 405,
  ERR_REGISTRY_KEY_PENDING: 409,
  ERR_REGISTRY_KEY_NOT_PENDING: 409,
  ERR_REGISTRY_BODY_TOO_LARGE: 413,
  ERR_REGISTRY_TOO_MANY_PENDING: 429,
  ERR_REGISTRY_UNAVAILABLE: 503,
} as const;

export type RegistryErrorCode = keyof typeof REGISTRY_ERROR_STATUS;

export function isRegistryErrorCode(value: unknown): value is RegistryErrorCode {
  return typeof value === 'string' && Object.hasOwn(REGISTRY_ERROR_STATUS, value);
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
    this.status = REGISTRY_ERROR_STATUS[code];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}
