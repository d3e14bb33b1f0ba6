// Where a token comes from, in the configured order: `Authorization: Bearer <jwt>` (or the
// password of HTTP Basic auth for user "oauth2", as Git and Docker clients send it; Go
// accepted any user name there), a named header, a cookie, a query parameter. The first
// carrier present is the token: a present but unusable one is refused, never skipped.
//
// Every copy in every configured carrier is read, not only the first: a second Authorization
// field, a second cookie of the name, a repeated query parameter or a header's underscore
// spelling (CGI-style applications read Cf_Access_Jwt_Assertion as Cf-Access-Jwt-Assertion)
// may carry another token, and an application that reads the last copy would act on it.
// RFC 6750 §2: a client MUST NOT send a token by more than one method; a request that carries
// two different tokens is refused as ambiguous.
import { canonicalHeaderName } from '../util/headerName';

export type TokenSource = { type: 'authorization' } | { type: 'header'; name: string } | { type: 'cookie'; name: string } | { type: 'query'; name: string };

/** What a request carries: `present` without `token` means a carrier was there but held no usable token. */
export interface FoundToken {
  present: boolean;
  token?: string;
  source?: TokenSource;
  /** Two or more different tokens in the configured carriers: the request is refused. */
  ambiguous?: boolean;
}

/** The parts of a request that may carry a token. */
export interface TokenCarriers {
  /** Node's rawHeaders: name, value, name, value… */
  rawHeaders: readonly string[];
  /** The raw query, without "?" ('' when none). */
  query: string;
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

/** Each `name=value` pair of a Cookie header (RFC 6265 §5.4; "," too, as legacy parsers split), values unquoted. */
export function* cookiePairs(cookieHeader: string): Generator<[name: string, value: string]> {
  for (const pair of cookieHeader.split(/[;,]/)) {
    const equals = pair.indexOf('=');
    if (equals === -1) continue;
    const value = pair.slice(equals + 1).trim();
    yield [pair.slice(0, equals).trim(), value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value];
  }
}

/** The value of the first cookie `name` in a Cookie header, or undefined. */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const [cookie, value] of cookiePairs(cookieHeader)) if (cookie === name) return value;
  return undefined;
}

/**
 * A cookie or query parameter name as the strictest application reads it: percent-decoded, lower
 * case (ASP.NET), ".", " " and "[" as "_" and anything from "[" on dropped (PHP: `access.token`,
 * `access token` and `access_token[]` are all `access_token`). Carriers are compared this way.
 */
export function canonicalParameterName(name: string): string {
  let decoded = name;
  if (name.includes('%')) {
    try {
      decoded = decodeURIComponent(name);
    } catch {
      decoded = name;
    }
  }
  const bracket = decoded.indexOf('[');
  return (bracket === -1 ? decoded : decoded.slice(0, bracket)).trim().toLowerCase().replace(/[. ]/g, '_');
}

/** Whether a cookie name is a configured cookie carrier's, as an application may read it. */
export const sameCookieName = (a: string, b: string): boolean => canonicalParameterName(a) === canonicalParameterName(b);

/** The query's pairs split on "&" and ";" (older parsers split on both), names as sent and values decoded. */
export function* queryPairs(query: string): Generator<[name: string, value: string]> {
  for (const pair of query.split(/[&;]/)) {
    if (!pair) continue;
    const equals = pair.indexOf('=');
    const [[name, value] = ['', '']] = new URLSearchParams(equals === -1 ? `${pair}=` : pair);
    yield [name, value];
  }
}

/** Every value each configured carrier holds, in the carriers' order; undefined for a copy that holds no usable token. */
function copiesOf(source: TokenSource, carriers: TokenCarriers): (string | undefined)[] {
  const { rawHeaders } = carriers;
  const copies: (string | undefined)[] = [];
  switch (source.type) {
    case 'authorization':
      for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'authorization') copies.push(tokenFromAuthorization(rawHeaders[i + 1]));
      break;
    case 'header':
      for (let i = 0; i < rawHeaders.length; i += 2) if (canonicalHeaderName(rawHeaders[i]) === source.name) copies.push(rawHeaders[i + 1].trim() || undefined);
      break;
    case 'cookie':
      for (let i = 0; i < rawHeaders.length; i += 2) {
        if (rawHeaders[i].toLowerCase() !== 'cookie') continue;
        for (const [name, value] of cookiePairs(rawHeaders[i + 1])) if (sameCookieName(name, source.name)) copies.push(value || undefined);
      }
      break;
    case 'query':
      if (carriers.query) {
        const wanted = canonicalParameterName(source.name);
        for (const [name, value] of queryPairs(carriers.query)) if (canonicalParameterName(name) === wanted) copies.push(value || undefined);
      }
      break;
  }
  return copies;
}

/** The token of the first carrier the request holds; `ambiguous` when the carriers hold different tokens. */
export function findToken(sources: readonly TokenSource[], carriers: TokenCarriers): FoundToken {
  let found: FoundToken = NOTHING;
  let seen: string | undefined;
  for (const source of sources) {
    for (const copy of copiesOf(source, carriers)) {
      if (!found.present) found = { present: true, token: copy, source };
      if (copy === undefined) continue;
      if (seen !== undefined && copy !== seen) return { ...found, ambiguous: true };
      seen = copy;
    }
  }
  return found;
}

/** The default, as in the Go jwtproxy: Authorization only (RFC 6750 §2.1). */
export const AUTHORIZATION_ONLY: readonly TokenSource[] = [{ type: 'authorization' }];
