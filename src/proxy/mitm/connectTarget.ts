// The target of a CONNECT request (`host:port`), validated once at the edge: it names the forged
// certificate, the origin requests are forwarded to, and the `aud` of their tokens. Its reading of
// `host[:port]` is the one every destination of the signer gets, absolute URIs included.
import * as net from 'node:net';
import { JwtproxyError } from '../../util/JwtproxyError';

export interface ConnectTarget {
  /** Lower-case DNS name (no trailing dot) or IP literal (IPv6 canonical, without brackets). */
  hostname: string;
  port: number;
  /** `host:port`, IPv6 in brackets: `example.com:443`, `[::1]:8443`. */
  authority: string;
  /** `https://host[:port]`, the port omitted when 443: the token's `aud` and where to forward. */
  origin: string;
}

export class ConnectTargetError extends JwtproxyError {
  readonly code = 'ERR_CONNECT_TARGET_INVALID';
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    // JSON quoting escapes control characters: a client cannot forge log lines through the target.
    super(`invalid CONNECT target ${JSON.stringify(target.length > 100 ? `${target.slice(0, 100)}…` : target)}: ${reason}`);
  }
}

const MAX_TARGET_LENGTH = 300;
const MAX_HOSTNAME_LENGTH = 253;
// RFC 1123 label: letters, digits and inner hyphens, 1 to 63 characters (checked after lower-casing).
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Parses `host:port` (port 1–65535 required); throws ConnectTargetError saying what is wrong. */
export function parseConnectTarget(requestTarget: string): ConnectTarget {
  const fail = (reason: string) => new ConnectTargetError(requestTarget, reason);
  if (requestTarget.length > MAX_TARGET_LENGTH) throw fail('too long');
  const { hostname, port } = parseAuthority(requestTarget, fail);
  if (port === undefined) throw fail(requestTarget.startsWith('[') ? 'a port is required: [IPv6]:port' : 'a port is required: host:port');
  const bracketed = hostname.includes(':') ? `[${hostname}]` : hostname;
  return { hostname, port, authority: `${bracketed}:${port}`, origin: port === 443 ? `https://${bracketed}` : `https://${bracketed}:${port}` };
}

/**
 * The one reading of `host[:port]` that every destination gets, CONNECT target or absolute URI:
 * the host a DNS name (lower-cased, without its trailing dot), a dotted-quad IPv4 address or a
 * bracketed IPv6 address (canonical, without the brackets); the port, when written, 1 to 65535.
 * Anything else (numeric or shorthand IPv4 forms, percent-escapes, zone ids) throws `fail(reason)`.
 */
export function parseAuthority(text: string, fail: (reason: string) => Error): { hostname: string; port?: number } {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw fail('unclosed "[" around an IPv6 address');
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw fail('only a port may follow the brackets: [IPv6]:port');
    portText = rest === '' ? undefined : rest.slice(1);
    if (!net.isIPv6(host) || host.includes('%')) throw fail('not an IPv6 address between the brackets');
    // The WHATWG URL serializer gives the one canonical text of an IPv6 address.
    host = new URL(`https://[${host}]/`).hostname.slice(1, -1);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (host.includes(':')) throw fail('an IPv6 address must be written in brackets: [IPv6]:port');
    if (!net.isIPv4(host)) host = normalizeHostname(host, fail);
  }
  return { hostname: host, port: portText === undefined ? undefined : parsePort(portText, fail) };
}

/** A port written in decimal, 1 to 65535; leading zeros are harmless (decimal everywhere) and dropped. */
export function parsePort(text: string, fail: (reason: string) => Error): number {
  const port = /^0*[0-9]{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535) throw fail('the port must be a number from 1 to 65535');
  return port;
}

function normalizeHostname(raw: string, fail: (reason: string) => Error): string {
  // One trailing dot is the fully qualified form of the same name.
  const hostname = (raw.endsWith('.') ? raw.slice(0, -1) : raw).toLowerCase();
  if (hostname.length === 0) throw fail('the host is empty');
  if (hostname.length > MAX_HOSTNAME_LENGTH) throw fail(`the host name is longer than ${MAX_HOSTNAME_LENGTH} characters`);
  const labels = hostname.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) throw fail('the host must be a DNS name (letters, digits, hyphens; labels of 1 to 63 characters) or an IP address');
  }
  // "127.1" or "2130706433" would reach a resolver that reads them as IPv4 addresses.
  if (/^[0-9]+$/.test(labels[labels.length - 1])) throw fail('the last label of a host name cannot be all digits (not a dotted-quad IPv4 address)');
  return hostname;
}

/**
 * Whether an inner request's Host header names the CONNECT target: same host (case-insensitive) and
 * same port, a Host without a port meaning 443. A missing or malformed Host never matches.
 */
export function hostHeaderMatchesTarget(hostHeader: string | undefined, target: ConnectTarget): boolean {
  if (!hostHeader) return false;
  const hasPort = hostHeader.startsWith('[') ? !hostHeader.endsWith(']') : hostHeader.includes(':');
  const withPort = !hasPort ? `${hostHeader}:443` : hostHeader.endsWith(':') ? `${hostHeader}443` : hostHeader;
  try {
    const named = parseConnectTarget(withPort);
    return named.hostname === target.hostname && named.port === target.port;
  } catch {
    return false;
  }
}
