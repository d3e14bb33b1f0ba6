// How a refused request is answered. 'go': 403 text/plain with the Go jwtproxy's body.
// 'rfc6750': 401 with `WWW-Authenticate: Bearer` (error="invalid_token" when a token was
// sent) or 403 error="insufficient_scope" when a valid token is not allowed, with a JSON
// body. Either way an outage is 503, and with `auth_redirect_url` a browser without a valid
// token is sent to log in (che-jwtproxy), the URL it wanted in `redirect_after_login`.
import type { IncomingMessage } from 'node:http';
import { BEARER_ANSWERS, FORWARD_AUTH_MISSING_TOKEN, goBody, MALFORMED_REQUEST, type RefusalCode } from '../verdicts/verdicts';
import type { RequestView } from './RequestView';
import type { VerifierConfig } from './verifierConfig';

const REDIRECT_PARAMETER = 'redirect_after_login';

export interface Refusal {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

export interface RefusedRequest {
  code: RefusalCode;
  status: 400 | 403 | 503;
  reason: string;
}

/** True for a browser navigation: it accepts HTML. */
export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

/**
 * The URL the client asked for, as seen from outside, for the login redirect: built from the
 * request view only (scheme http or https, X-Forwarded-Proto and -Host believed only from a trusted
 * proxy or the gateway's contract), with the normalised path and the query without token parameters.
 */
export function publicUrl(view: Pick<RequestView, 'scheme' | 'publicHost' | 'path' | 'query'>, publicBasePath: string): string {
  return `${view.scheme}://${view.publicHost}${publicBasePath}${view.path}${view.query ? `?${view.query}` : ''}`;
}

export function loginRedirect(authRedirectUrl: URL, wanted: string): string {
  const target = new URL(authRedirectUrl);
  target.searchParams.set(REDIRECT_PARAMETER, wanted);
  return target.href;
}

function text(status: number, body: string): Refusal {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' }, body };
}

/** RFC 6750 §3: quoted-string values may not hold `"` or `\`, and hold printable ASCII only (a message may come from a script or an authorizer). */
function quoted(value: string): string {
  return value.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
}

/** RFC 6750 §3.1: a malformed request (two tokens) is invalid_request, 400. */
function rfc6750(refused: RefusedRequest): Refusal {
  const { status, error } = refused.status === 400 ? MALFORMED_REQUEST : BEARER_ANSWERS[refused.code];
  const body = JSON.stringify({ error, error_description: refused.reason });
  const challenge = refused.code === 'missing_token' ? 'Bearer realm="jwtproxy"' : `Bearer realm="jwtproxy", error="${error}", error_description="${quoted(refused.reason)}"`;
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
  if (status !== BEARER_ANSWERS.unavailable.status) headers['www-authenticate'] = challenge;
  return { status, headers, body };
}

/** The answer to a refused request for this verifier's style (without the login redirect). */
export function refusalResponse(verifier: VerifierConfig, refused: RefusedRequest): Refusal {
  if (verifier.refusalStyle === 'rfc6750') return rfc6750(refused);
  const answer = text(refused.status, goBody(refused.reason));
  if (verifier.forwardAuth && refused.code === 'missing_token') {
    answer.status = FORWARD_AUTH_MISSING_TOKEN.status;
    answer.headers['www-authenticate'] = FORWARD_AUTH_MISSING_TOKEN.challenge;
  }
  return answer;
}
