// Why a text is not a compact JWS we accept: a stable code for callers and logs, and
// a message for the operator. Clients are only ever told the Go text "Could not parse JWT".
import { JwtproxyError } from '../util/JwtproxyError';

export type JwsErrorCode =
  /** Longer than the limit (16 KiB by default), before anything is decoded. */
  | 'ERR_JWS_TOO_LARGE'
  /** Not three dot-separated segments, or an empty header or payload. */
  | 'ERR_JWS_SEGMENTS'
  /** A segment that is not strict base64url: padding, whitespace, other characters, non-canonical. */
  | 'ERR_JWS_BASE64URL'
  /** Decoded bytes that are not UTF-8, or a lone surrogate escaped in the JSON. */
  | 'ERR_JWS_UTF8'
  /** Not JSON, or JSON nested deeper than the limit. */
  | 'ERR_JWS_JSON'
  /** JSON that is not an object. */
  | 'ERR_JWS_NOT_OBJECT'
  /** The same member name twice in one JSON object (RFC 7515 §5.2, RFC 7519 §4). */
  | 'ERR_JWS_DUPLICATE_MEMBER'
  /** A `crit` header: we understand no extension (RFC 7515 §4.1.11). */
  | 'ERR_JWS_CRIT'
  /** A `b64` header other than true (RFC 7797 unencoded payloads are not supported). */
  | 'ERR_JWS_B64'
  /** No `alg` header, or one that is not a string (RFC 7515 §4.1.1). */
  | 'ERR_JWS_ALG'
  /** A `typ` header that is not a string (RFC 7515 §4.1.9). */
  | 'ERR_JWS_TYP';

export class JwsError extends JwtproxyError {
  constructor(
    readonly code: JwsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
