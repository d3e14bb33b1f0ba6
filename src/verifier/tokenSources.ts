// Where a token comes from, in the configured order: `Authorization: Bearer <jwt>` (or the
// password of HTTP Basic auth for user "oauth2", as Git and Docker clients send it; Go
// accepted any user name there), a named header, a cookie, a query parameter. The first
// source present is the token: a present but unusable one is refused, never skipped.
import type { IncomingHttpHeaders } from 'node:http';

export type TokenSource =
  | { type: 'authorization' }
  | { type: 'header'; name: string }
  | { type: 'cookie'; name: string }
  | { type: 'query'; name: string };

/** What a request carries: `present` without `token` means a source was there but held no usable token. */
export interface FoundToken {
  present: boolean;
  token?: string;
  source?: TokenSource;
}

const BASIC_USER = 'oauth2';
const NOTHING: FoundToken = { present: false };

/** The token of an Authorization header value, or undefined when it holds none. */
export function tokenFromAuthorization(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const space = authorization.indexOf(' ');
  if (space === -1) return undefined;
  const scheme = authorization.slice(0, space).toLowerCase();
  const credentials = authorization.slice(space + 1).trim();
  if (scheme === 'bearer') return credentials || undefined;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1 || decoded.slice(0, colon) !== BASIC_USER) return undefined;
  return decoded.slice(colon + 1) || undefined;
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or undefined. */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const pair of cookieHeader.split(';')) {
    const equals = pair.indexOf('=');
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    const value = pair.slice(equals + 1).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

function queryValue(url: string, name: string): string | undefined {
  const question = url.indexOf('?');
  if (question === -1) return undefined;
  return new URLSearchParams(url.slice(question + 1)).get(name) ?? undefined;
}

/** A header sent once: a repeated token header is ambiguous and counts as unusable. */
function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

function lookUp(source: TokenSource, headers: IncomingHttpHeaders, url: string): FoundToken {
  switch (source.type) {
    case 'authorization':
      if (headers.authorization === undefined) return NOTHING;
      return { present: true, token: tokenFromAuthorization(headers.authorization), source };
    case 'header': {
      const value = headers[source.name];
      if (value === undefined) return NOTHING;
      return { present: true, token: singleHeader(value)?.trim() || undefined, source };
    }
    case 'cookie': {
      const value = cookieValue(headers.cookie, source.name);
      return value === undefined ? NOTHING : { present: true, token: value || undefined, source };
    }
    case 'query': {
      const value = queryValue(url, source.name);
      return value === undefined ? NOTHING : { present: true, token: value || undefined, source };
    }
  }
}

/** The token of the first source the request carries. */
export function findToken(sources: readonly TokenSource[], headers: IncomingHttpHeaders, url: string): FoundToken {
  for (const source of sources) {
    const found = lookUp(source, headers, url);
    if (found.present) return found;
  }
  return NOTHING;
}

/** The default, Part A: Authorization only. */
export const AUTHORIZATION_ONLY: readonly TokenSource[] = [{ type: 'authorization' }];
