// Why a request to a service the proxy depends on got no usable answer, as a stable code. The
// message names the request by its loggable URL (no credentials); `reason` is the same without
// it, for callers that phrase their own message around the URL.
import { JwtproxyError } from '../util/JwtproxyError';

export type OutboundHttpErrorCode =
  /** No complete answer within the deadline (connecting, the head and the body together). */
  | 'ERR_OUTBOUND_TIMEOUT'
  /** The caller's signal ended the request. */
  | 'ERR_OUTBOUND_ABORTED'
  /** The connection could not be made, or broke before the answer was complete. */
  | 'ERR_OUTBOUND_CONNECTION'
  /** The answer is a redirect: redirects are not followed. */
  | 'ERR_OUTBOUND_REDIRECT'
  /** The body is longer than the client's bound; reading stopped there. */
  | 'ERR_OUTBOUND_TOO_LARGE';

export class OutboundHttpError extends JwtproxyError {
  constructor(
    readonly code: OutboundHttpErrorCode,
    /** `METHOD <loggable URL>`. */
    readonly request: string,
    /** What went wrong, without the URL: "no answer within 5000 ms". */
    readonly reason: string,
    /** The answer's status, once its head has arrived. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(`${request}: ${reason}`, options);
  }
}
