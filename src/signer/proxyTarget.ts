// Where a forward-proxy request goes, read from its absolute-URI request target
// (`GET http://host:port/path HTTP/1.1`). Its authority is read as a CONNECT target is, so both
// refuse the same hosts, and the audience is the canonical origin: `http://127.0.0.1:18081`,
// `https://api.example.com` (lower case, default port left out, IPv6 in its canonical text).
import { parseAuthority } from '../proxy/mitm/connectTarget';
import { JwtproxyError } from '../util/JwtproxyError';

/** A validated host and port the signer would reach: what the destination rules are checked against. */
export interface Destination {
  /** Lower-case DNS name (no trailing dot) or IP literal (IPv6 canonical, without brackets). */
  hostname: string;
  port: number;
  /** `host:port`, IPv6 in brackets: `example.com:80`, `[::1]:8443`. */
  authority: string;
}

export interface ProxyTarget {
  /** scheme://host[:port] to connect to, the default port left out. */
  origin: string;
  /** The token's `aud`: the canonical origin. */
  audience: string;
  /** The Host header sent on: the canonical authority, whatever Host the client wrote (RFC 9112 §3.2.2). */
  host: string;
  /** Origin-form path and query sent upstream. */
  path: string;
  destination: Destination;
}

export class ProxyTargetError extends JwtproxyError {
  readonly code = 'ERR_PROXY_TARGET_INVALID';
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    // JSON quoting escapes control characters: a client cannot forge log lines through the target.
    const shown = redactedTarget(target);
    super(`invalid request target ${JSON.stringify(shown.length > 100 ? `${shown.slice(0, 100)}…` : shown)}: ${reason}`);
  }
}

/** A request target as it may be logged: without user information (user:password@) and with its query hidden, as either may hold a credential. */
function redactedTarget(target: string): string {
  const withoutUserinfo = target.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1…@');
  const query = withoutUserinfo.indexOf('?');
  return query === -1 ? withoutUserinfo : `${withoutUserinfo.slice(0, query)}?…`;
}

const ABSOLUTE_URI = /^(https?):\/\/([^/?#]*)([^#]*)/i;
const MAX_AUTHORITY_LENGTH = 300;
const DEFAULT_PORTS = { http: 80, https: 443 } as const;

/** Throws ProxyTargetError when `requestTarget` is not an http(s) absolute URI with a valid authority. */
export function parseProxyTarget(requestTarget: string): ProxyTarget {
  const fail = (reason: string) => new ProxyTargetError(requestTarget, reason);
  const match = ABSOLUTE_URI.exec(requestTarget);
  if (!match) throw fail('not an http:// or https:// URL');
  const scheme = match[1].toLowerCase() as keyof typeof DEFAULT_PORTS;
  const authority = match[2];
  // userinfo in a proxy request is a credential leak waiting to happen; refuse it.
  if (authority.includes('@')) throw fail('user information (user@) is not allowed in the URL');
  if (authority === '') throw fail('the host is empty');
  if (authority.length > MAX_AUTHORITY_LENGTH) throw fail('the host and port are too long');
  // An empty port (`http://host:/`) stands for the default one (RFC 3986 §6.2.3).
  const parsed = parseAuthority(authority.endsWith(':') ? authority.slice(0, -1) : authority, fail);
  const port = parsed.port ?? DEFAULT_PORTS[scheme];
  const bracketed = parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname;
  const host = port === DEFAULT_PORTS[scheme] ? bracketed : `${bracketed}:${port}`;
  const origin = `${scheme}://${host}`;
  const rest = match[3];
  const path = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
  return { origin, audience: origin, host, path, destination: { hostname: parsed.hostname, port, authority: `${bracketed}:${port}` } };
}
