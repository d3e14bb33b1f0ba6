// Listener options shared by every proxy block: address, unix socket mode, TLS, shutdown.
import { ConfigNode } from './ConfigNode';
import type { ListenerConfig } from './types';

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 60_000;

export function parseListenAddr(node: ConfigNode, key: string, fallback: string): string {
  const addr = node.string(key, fallback);
  if (addr.startsWith('unix:')) {
    if (addr.length === 'unix:'.length) node.fail(key, 'a unix socket address needs a path, e.g. unix:/run/jwtproxy.sock');
    return addr;
  }
  const match = /^(.*):(\d+)$/.exec(addr);
  if (!match || Number(match[2]) > 65535) {
    node.fail(key, `${JSON.stringify(addr)} is not a listen address (use host:port, :port or unix:/path)`);
  }
  return addr;
}

export function parseListener(node: ConfigNode, defaultAddr: string): ListenerConfig {
  const listenAddr = parseListenAddr(node, 'listen_addr', defaultAddr);
  const socketPermission = node.fileMode('socket_permission', 0o755);
  const shutdownTimeoutMs = node.duration('shutdown_timeout', DEFAULT_SHUTDOWN_TIMEOUT_MS, { nonNegative: true, timer: true });
  const keyFile = node.string('key_file', '');
  const crtFile = node.string('crt_file', '');
  if (Boolean(keyFile) !== Boolean(crtFile)) {
    node.fail(keyFile ? 'crt_file' : 'key_file', 'TLS needs both key_file and crt_file (or neither, for plain HTTP)');
  }
  return { listenAddr, socketPermission, shutdownTimeoutMs, tls: keyFile ? { keyFile, crtFile } : undefined };
}

/** Splits `host:port` / `:port` into what net.Server.listen takes. */
export function listenTarget(addr: string): { path: string } | { host?: string; port: number } {
  if (addr.startsWith('unix:')) return { path: addr.slice('unix:'.length) };
  const index = addr.lastIndexOf(':');
  const host = addr.slice(0, index).replace(/^\[(.*)\]$/, '$1');
  return { host: host || undefined, port: Number(addr.slice(index + 1)) };
}
