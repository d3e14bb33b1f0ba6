// A rule over a verified token, applied after the registered-claim checks. It sees the
// claims and the request the token came with, so rules can look at both.
import type { Claims } from '../jwt/token';
import type { CertificateFacts } from '../x509/CertificateFacts';

/** The facts a rule decides from. */
export interface PolicyInput {
  claims: Claims;
  request: RequestFacts;
  /** The expanded identity (C6), when the verifier expands identities and it could be had. */
  identity?: Record<string, unknown>;
  /** The verified client certificate (C5); absent when the request has none. */
  client_certificate?: CertificateFacts;
}

export interface RequestFacts {
  method: string;
  /** The path without the query. */
  path: string;
  host: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** undefined when the input passes, else why not (becomes "Error verifying claims: <why>"). */
export type ClaimsDecision = string | undefined;

export interface ClaimsVerifier {
  verify(input: PolicyInput): ClaimsDecision | Promise<ClaimsDecision>;
}
