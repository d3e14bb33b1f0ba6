// Every refusal the product answers, in one table: for each verdict its kind (`code`), HTTP
// status, the text the client is told (the Go jwtproxy's, word for word, where Go has one), the
// metric's reason label and the log level. Callers name a verdict; they write no status or text.
import type { JwsErrorCode } from '../jwt/JwsError';
import type { TokenProblem } from '../jwt/registeredClaims';

/**
 * The kind of a refusal, stable for metrics and callers: no token at all, a token that is not
 * valid here, a valid token the claims verifiers refuse, or a dependency that is down.
 */
export type RefusalCode = 'missing_token' | 'invalid_token' | 'claims_refused' | 'unavailable';

export type VerdictLogLevel = 'info' | 'warn';

export interface VerdictFacts {
  readonly code: RefusalCode;
  /** The status of the Go style of answer (403 text/plain); other styles derive theirs from `code`. */
  readonly status: 400 | 403 | 503;
  /** What the client is told; a verdict with a detail (a claim's name, a policy's message) tells `reason` with it. */
  readonly reason: string;
  /** The `reason` label of jwtproxy_verifier_requests_total: several precise verdicts may share one. */
  readonly metric: string;
  readonly level: VerdictLogLevel;
}

/** The Go verifier's texts, which clients may match on. */
const GO = {
  parse: 'Could not parse JWT',
  kid: "Missing 'kid' claim",
  iss: "Missing or invalid 'iss' claim",
  aud: "Missing or invalid 'aud' claim",
  exp: "Missing or invalid 'exp' claim",
  nbf: "Missing or invalid 'nbf' claim",
  iat: "Missing or invalid 'iat' claim",
  ttl: "Invalid 'exp' claim (too long)",
  jti: "Missing or invalid 'jti' claim",
  keyNotFound: 'Could not find any matching public key',
  keyExpired: 'Key has expired.',
  keyServer: 'Unexpected key server error',
  signature: 'Invalid JWT signature',
} as const;

const invalid = <Metric extends string>(reason: string, metric: Metric) => ({ code: 'invalid_token', status: 403, reason, metric, level: 'info' }) as const;
/** Told as Go tells any token it cannot parse; logged by what the parser found. */
const malformed = () => invalid(GO.parse, 'malformed');
const unavailable = <Metric extends string>(reason: string, metric: Metric) => ({ code: 'unavailable', status: 503, reason, metric, level: 'warn' }) as const;

export const VERDICTS = {
  missing: { code: 'missing_token', status: 403, reason: GO.parse, metric: 'missing', level: 'info' },
  /** RFC 6750 §2: one method per request; two different tokens leave no way to say whose request it is. */
  ambiguous_token: { code: 'invalid_token', status: 400, reason: 'More than one token in the request', metric: 'ambiguous_token', level: 'info' },
  /** A carrier present without a usable token in it (an empty header, Basic auth of another user than oauth2). */
  unreadable_token: malformed(),
  token_too_large: malformed(),
  malformed_segments: malformed(),
  malformed_base64url: malformed(),
  malformed_utf8: malformed(),
  malformed_json: malformed(),
  not_json_object: malformed(),
  duplicate_member: malformed(),
  unsupported_crit: malformed(),
  unsupported_b64: malformed(),
  malformed_alg: malformed(),
  malformed_typ: malformed(),
  kid: invalid(GO.kid, 'kid'),
  /** AWS ALB: the JOSE header's signer is not this load balancer. */
  signer: invalid("Invalid 'signer' header", 'signer'),
  iss: invalid(GO.iss, 'iss'),
  aud: invalid(GO.aud, 'aud'),
  exp: invalid(GO.exp, 'exp'),
  nbf: invalid(GO.nbf, 'nbf'),
  iat: invalid(GO.iat, 'iat'),
  ttl: invalid(GO.ttl, 'ttl'),
  jti: invalid(GO.jti, 'jti'),
  /** Told with the claim's name in quotes. */
  required_claim: invalid('Missing required claim', 'required_claim'),
  key_not_found: invalid(GO.keyNotFound, 'key_not_found'),
  key_expired: invalid(GO.keyExpired, 'key_expired'),
  key_server_error: invalid(GO.keyServer, 'key_server_error'),
  /** Told as a bad signature, as Go does; counted apart: an alg the key does not have is an attack or a misconfiguration. */
  alg_not_the_keys: invalid(GO.signature, 'algorithm'),
  /** The key's alg, but not one of the verifier's `algorithms`. */
  alg_not_allowed: invalid(GO.signature, 'algorithm'),
  signature: invalid(GO.signature, 'signature'),
  /** RFC 8705: a cnf claim that is not an object, or whose x5t#S256 is not a string. */
  invalid_cnf: invalid("Invalid 'cnf' claim", 'certificate_binding'),
  certificate_required: invalid('Token is bound to a client certificate and none was presented', 'certificate_binding'),
  certificate_mismatch: invalid('Token is bound to another client certificate', 'certificate_binding'),
  /** A jti already used: told as Go tells a missing one. */
  replayed: invalid(GO.jti, 'replayed'),
  /** Forward-auth: a provider identity header the client sent that the token does not vouch for. */
  forged_header: { code: 'invalid_token', status: 400, reason: 'An identity header of the provider does not match the token', metric: 'forged_header', level: 'info' },
  /** Told with the claims verifier's message. */
  claims_verifier: { code: 'claims_refused', status: 403, reason: 'Error verifying claims', metric: 'claims_verifier', level: 'info' },
  /** Told with what claims_to_headers could not write. */
  header_mapping: { code: 'claims_refused', status: 403, reason: 'Error mapping claims to headers', metric: 'header_mapping', level: 'info' },
  keys_unavailable: unavailable('Signing keys not available yet', 'keys_unavailable'),
  /** An outage, not a verdict on the token: 503 so the caller retries, with the Go text. */
  key_server_unavailable: unavailable(GO.keyServer, 'key_server_unavailable'),
  identity_unavailable: unavailable('Identity unavailable', 'identity_unavailable'),
  authorizer_unavailable: unavailable('Authorizer unavailable', 'authorizer_unavailable'),
  nonce_store_unavailable: unavailable('Nonce storage unavailable', 'nonce_store_unavailable'),
} as const satisfies Record<string, VerdictFacts>;

export type VerdictName = keyof typeof VERDICTS;
/** The `reason` label of a refusal in the verifier's metrics. */
export type VerdictMetric = (typeof VERDICTS)[VerdictName]['metric'];

/** The body of a Go style refusal (403 text/plain): Go's prefix, then the reason told. */
export function goBody(reason: string): string {
  return `jwtproxy: unable to verify request: ${reason}`;
}

/** The verdict on a token the JWS parser refuses, by the parser's code. */
export const JWS_VERDICTS = {
  ERR_JWS_TOO_LARGE: 'token_too_large',
  ERR_JWS_SEGMENTS: 'malformed_segments',
  ERR_JWS_BASE64URL: 'malformed_base64url',
  ERR_JWS_UTF8: 'malformed_utf8',
  ERR_JWS_JSON: 'malformed_json',
  ERR_JWS_NOT_OBJECT: 'not_json_object',
  ERR_JWS_DUPLICATE_MEMBER: 'duplicate_member',
  ERR_JWS_CRIT: 'unsupported_crit',
  ERR_JWS_B64: 'unsupported_b64',
  ERR_JWS_ALG: 'malformed_alg',
  ERR_JWS_TYP: 'malformed_typ',
} as const satisfies Record<JwsErrorCode, VerdictName>;

/** What the client is told for `verdict`, with its detail when it has one. */
function toldReason(verdict: VerdictName, detail?: string): string {
  const { reason } = VERDICTS[verdict];
  if (detail === undefined) return reason;
  return verdict === 'required_claim' ? `${reason} '${detail}'` : `${reason}: ${detail}`;
}

/** What the client is told for a failed registered-claims check: each check is a verdict of its own. */
export function tokenCheckReason(problem: TokenProblem): string {
  return toldReason(problem.code, problem.claim);
}

/** A refused request, as the verifier's parts pass it on: the verdict and its facts, the text told, and the cause for the log. */
export interface Refused extends Omit<VerdictFacts, 'reason' | 'metric'> {
  readonly ok: false;
  /** The precise verdict, named on the refusal's log line. */
  readonly verdict: VerdictName;
  readonly reasonCode: VerdictMetric;
  readonly reason: string;
  /** For the operator's log, never for the client. */
  readonly cause?: Error;
}

/** `verdict` as a refused request: `detail` is told with its reason, `cause` only logged. */
export function refusal(verdict: VerdictName, options: { detail?: string; cause?: Error } = {}): Refused {
  const { code, status, metric, level } = VERDICTS[verdict];
  return { ok: false, verdict, code, status, reasonCode: metric, reason: toldReason(verdict, options.detail), level, cause: options.cause };
}

/** How bearer-token answers (RFC 6750 refusals, the external evaluation endpoint) tell each kind of refusal. */
export const BEARER_ANSWERS = {
  missing_token: { status: 401, error: 'invalid_token' },
  invalid_token: { status: 401, error: 'invalid_token' },
  claims_refused: { status: 403, error: 'insufficient_scope' },
  unavailable: { status: 503, error: 'temporarily_unavailable' },
} as const satisfies Record<RefusalCode, { status: number; error: string }>;

/** RFC 6750 §3.1: a malformed request (two tokens, a body that is not the request) is invalid_request. */
export const MALFORMED_REQUEST = { status: 400, error: 'invalid_request' } as const;
/** A request body past its bound, refused before it is all read. */
export const BODY_TOO_LARGE = { status: 413, error: 'invalid_request' } as const;

/** Forward-auth: a gateway tells "no credentials" (401, ask for them) from "bad credentials" (403). */
export const FORWARD_AUTH_MISSING_TOKEN = { status: 401, challenge: 'Bearer' } as const;

/** The forward-auth options a request refusal's body names. */
export interface ForwardAuthNames {
  readonly audienceFromPath?: string;
  readonly gateway: string;
}

/** Requests the verifier refuses before looking for a token (metric code `bad_request`), with the whole body they get. */
export const REQUEST_VERDICTS = {
  proxy_form: { status: 500, body: () => 'This is a reverse proxy server. Does not respond to proxy requests.\n' },
  untrusted_peer: { status: 403, body: () => 'jwtproxy: this verifier answers only requests that come through its trusted proxies\n' },
  no_audience: { status: 404, body: (forwardAuth) => `jwtproxy: ask for ${forwardAuth.audienceFromPath}<audience>\n` },
  no_host: { status: 400, body: () => 'jwtproxy: nginx did not send X-Original-Host: set proxy_set_header X-Original-Host $host; in the auth_request location\n' },
  ambiguous: {
    status: 400,
    body: (forwardAuth) => `jwtproxy: the original request is not given as the ${forwardAuth.gateway} gateway gives it (X-Forwarded-Uri for Traefik, X-Original-URI for nginx, not both, each once)\n`,
  },
  ambiguous_path: {
    status: 400,
    body: () =>
      'jwtproxy: the gateway or the application may read this path otherwise than it was judged (a ;parameter, escaped / \\ . % ; or control characters, invalid escapes or UTF-8, a literal \\ or #, // before ..); the rules of this verifier cannot judge it\n',
  },
} as const satisfies Record<string, { status: number; body: (forwardAuth: ForwardAuthNames) => string }>;

export type RequestVerdictName = keyof typeof REQUEST_VERDICTS;

/**
 * The key registry's refusals, by code: the HTTP status of the protocol and admin answers, and the
 * level a refused write (PUT, DELETE) is logged at; refused reads are routine and logged at debug.
 */
export const REGISTRY_VERDICTS = {
  ERR_REGISTRY_BAD_REQUEST: { status: 400, level: 'warn' },
  ERR_REGISTRY_INVALID_JWK: { status: 400, level: 'warn' },
  ERR_REGISTRY_UNAUTHORIZED: { status: 401, level: 'warn' },
  ERR_REGISTRY_BROWSER_REFUSED: { status: 403, level: 'warn' },
  ERR_REGISTRY_SIGNER_REFUSED: { status: 403, level: 'warn' },
  ERR_REGISTRY_KEY_EXPIRED: { status: 403, level: 'warn' },
  ERR_REGISTRY_KEY_NOT_FOUND: { status: 404, level: 'warn' },
  ERR_REGISTRY_METHOD_NOT_ALLOWED: { status: 405, level: 'warn' },
  ERR_REGISTRY_KEY_PENDING: { status: 409, level: 'warn' },
  ERR_REGISTRY_KEY_NOT_PENDING: { status: 409, level: 'warn' },
  ERR_REGISTRY_BODY_TOO_LARGE: { status: 413, level: 'warn' },
  /** Routine past the pending cap, which the registry logs once as it is reached. */
  ERR_REGISTRY_TOO_MANY_PENDING: { status: 429, level: 'debug' },
  ERR_REGISTRY_UNAVAILABLE: { status: 503, level: 'warn' },
} as const satisfies Record<string, { status: number; level: 'debug' | 'warn' }>;

/** What a protocol client is told while the registry's storage cannot answer. */
export const REGISTRY_STORAGE_UNAVAILABLE = 'the key storage is unavailable; retry later';
