// A rule over a verified token, applied after the registered-claim checks. It sees the
// claims and the request the token came with, so rules can look at both.
import type { Claims } from '../jwt/token';
import { JwtproxyError } from '../util/JwtproxyError';
import type { CertificateFacts } from '../x509/CertificateFacts';

/** The facts a rule decides from. */
export interface PolicyInput {
  claims: Claims;
  request: RequestFacts;
  /** The expanded identity (Cloudflare Access's get-identity), when the verifier expands identities and it could be had. */
  identity?: Record<string, unknown>;
  /** The verified client certificate (mTLS, RFC 8705); absent when the request has none. */
  client_certificate?: CertificateFacts;
}

export interface RequestFacts {
  method: string;
  /** The path without the query. */
  path: string;
  host: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A pass that also sets upstream request headers (an authorizer's decision): [lower-case name, wire value]. */
export interface ClaimsAllowance {
  headers: [string, string][];
}

/**
 * undefined (or a ClaimsAllowance) when the input passes, else why not (becomes "Error verifying
 * claims: <why>"). A verifier that cannot decide throws ClaimsVerifierError or ClaimsVerifierUnavailableError.
 */
export type ClaimsDecision = string | undefined | ClaimsAllowance;

export interface ClaimsVerifier {
  verify(input: PolicyInput): ClaimsDecision | Promise<ClaimsDecision>;
  /** Loads what the verifier needs (a script); a failure stops the program. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /** Re-reads what may change on disk (SIGHUP); on failure the verifier keeps what it had. */
  reload?(): Promise<void>;
  /** Lower-case names of the upstream headers its decisions may set: the proxy strips client copies of them. */
  readonly upstreamHeaders?: readonly string[];
}

/** The verifier could not decide (a script that failed): the request is refused with `refusal`; the message is for the log. */
export class ClaimsVerifierError extends JwtproxyError {
  readonly code = 'ERR_CLAIMS_VERIFIER_FAILED';

  constructor(
    readonly refusal: string,
    message: string,
  ) {
    super(message);
  }
}

/** The verifier's authorizer is down, slow or answers garbage: the request gets a retryable 503. */
export class ClaimsVerifierUnavailableError extends JwtproxyError {
  readonly code = 'ERR_CLAIMS_VERIFIER_UNAVAILABLE';
}
