// Listener options shared by every proxy block: address, unix socket mode, TLS, shutdown.
import * as net from 'node:net';
import type { ConfigNode } from '../config/ConfigNode';
import { formatDuration } from '../config/duration';
import { ACCESS_LINE_FIELDS, DEFAULT_ACCESS_LOG, type AccessLogConfig } from '../observability/AccessLog';

/** What a client may send a listener, and for how long: beyond these the request is refused or the connection closed. */
export interface ListenerLimits {
  /** More header fields than this are answered 431. */
  maxHeaderCount: number;
  /** A request head (request line and header fields) larger than this is answered 431. */
  maxHeaderBytes: number;
  /** The whole request, body included, must have arrived within this (else 408); 0: no limit. */
  requestTimeoutMs: number;
  /** The request head must have arrived within this (else 408); 0: no limit. */
  headersTimeoutMs: number;
  /** A keep-alive connection idle this long is closed; 0: never. */
  keepAliveTimeoutMs: number;
}

/** Where a proxy listens: `host:port`, `:port`, or `unix:/path`. */
export interface ListenerConfig {
  listenAddr: string;
  socketPermission: number;
  shutdownTimeoutMs: number;
  limits: ListenerLimits;
  /** One line per request at info: on by default, `access_log: false` turns it off. */
  accessLog: AccessLogConfig;
  /** Set when both key_file and crt_file are given: the listener terminates TLS. */
  tls?: { keyFile: string; crtFile: string; clientAuth?: ClientAuthConfig };
}

/** mTLS on a TLS listener (RFC 8446 client authentication): which client certificates it accepts. */
export interface ClientAuthConfig {
  /** PEM CA certificates that issue client certificates. */
  caFile: string;
  /** require: no certificate, no connection; optional: a client without one goes on to the token check. */
  mode: 'require' | 'optional';
  /** PEM CRLs; when set, every CA in caFile needs a current CRL in it. */
  crlFile?: string;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 60_000;

/**
 * Envoy's header count, Node's header size, Node's request timeout; nginx's header timeout; an idle
 * timeout beyond the 60 s of common load balancers, so that they, not we, close idle connections.
 */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  maxHeaderCount: 100,
  maxHeaderBytes: 16 * 1024,
  requestTimeoutMs: 300_000,
  headersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
};

export function parseListenAddr(node: ConfigNode, key: string, fallback: string): string {
  const addr = node.string(key, fallback);
  if (addr.startsWith('unix:')) {
    if (addr.length === 'unix:'.length) node.fail(key, 'a unix socket address needs a path, e.g. unix:/run/jwtproxy.sock');
    node.requires(key, { kind: 'listen', addr });
    return addr;
  }
  const match = /^(.*):(\d+)$/.exec(addr);
  if (!match || Number(match[2]) > 65535) {
    node.fail(key, `${JSON.stringify(addr)} is not a listen address (use host:port, :port or unix:/path)`);
  }
  node.requires(key, { kind: 'listen', addr });
  return addr;
}

function parseLimits(node: ConfigNode, defaults: ListenerLimits): ListenerLimits {
  const requestTimeoutMs = node.duration('request_timeout', defaults.requestTimeoutMs, { nonNegative: true, timer: true });
  const headersDefault = requestTimeoutMs > 0 ? Math.min(defaults.headersTimeoutMs, requestTimeoutMs) : defaults.headersTimeoutMs;
  const headersTimeoutMs = node.duration('headers_timeout', headersDefault, { nonNegative: true, timer: true });
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    node.fail(
      'headers_timeout',
      `${formatDuration(headersTimeoutMs)} is longer than request_timeout (${formatDuration(requestTimeoutMs)}), which the head is part of: shorten it, or lengthen request_timeout`,
    );
  }
  return {
    maxHeaderCount: node.integer('max_header_count', defaults.maxHeaderCount, 1, 2000),
    maxHeaderBytes: node.byteSize('max_header_bytes', defaults.maxHeaderBytes, 1024, 1024 * 1024),
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: node.duration('keep_alive_timeout', defaults.keepAliveTimeoutMs, { nonNegative: true, timer: true }),
  };
}

export function parseListener(node: ConfigNode, defaultAddr: string, defaultLimits = DEFAULT_LISTENER_LIMITS): ListenerConfig {
  const listenAddr = parseListenAddr(node, 'listen_addr', defaultAddr);
  const socketPermission = node.fileMode('socket_permission', 0o755);
  const shutdownTimeoutMs = node.duration('shutdown_timeout', DEFAULT_SHUTDOWN_TIMEOUT_MS, { nonNegative: true, timer: true });
  const limits = parseLimits(node, defaultLimits);
  const keyFile = node.string('key_file', '');
  const crtFile = node.string('crt_file', '');
  if (Boolean(keyFile) !== Boolean(crtFile)) {
    node.fail(keyFile ? 'crt_file' : 'key_file', 'TLS needs both key_file and crt_file (or neither, for plain HTTP)');
  }
  if (keyFile) {
    node.requires('key_file', { kind: 'file', path: keyFile, holds: 'private_key' });
    node.requires('crt_file', { kind: 'file', path: crtFile, holds: 'certificate', key: { at: node.at('key_file'), path: keyFile } });
  }
  return { listenAddr, socketPermission, shutdownTimeoutMs, limits, accessLog: parseAccessLog(node), tls: keyFile ? { keyFile, crtFile } : undefined };
}

/** `access_log: true|false`, or `{enabled, identity_claim}`. */
function parseAccessLog(node: ConfigNode): AccessLogConfig {
  const raw = node.raw('access_log');
  if (raw === undefined || raw === null || typeof raw === 'boolean') return { ...DEFAULT_ACCESS_LOG, enabled: raw ?? true };
  const options = node.child('access_log');
  const config = { enabled: options.boolean('enabled', true), identityClaim: options.string('identity_claim', DEFAULT_ACCESS_LOG.identityClaim) };
  if ((ACCESS_LINE_FIELDS as readonly string[]).includes(config.identityClaim)) {
    options.fail('identity_claim', `${JSON.stringify(config.identityClaim)} is a field of the access line itself; name another claim (sub, email…)`);
  }
  options.done();
  return config;
}

/** Splits `host:port` / `:port` into what net.Server.listen takes. */
export function listenTarget(addr: string): { path: string } | { host?: string; port: number } {
  if (addr.startsWith('unix:')) return { path: addr.slice('unix:'.length) };
  const index = addr.lastIndexOf(':');
  const host = addr.slice(0, index).replace(/^\[(.*)\]$/, '$1');
  return { host: host || undefined, port: Number(addr.slice(index + 1)) };
}

/** True when `addr` is reachable from this host only: a unix socket, localhost or a loopback address. */
export function isLoopbackListenAddr(addr: string): boolean {
  const target = listenTarget(addr);
  if ('path' in target) return true;
  const host = target.host?.toLowerCase();
  return host === 'localhost' || host === '::1' || (host !== undefined && net.isIPv4(host) && host.startsWith('127.'));
}
