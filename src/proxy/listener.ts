// Binding a proxy's server to `host:port` or `unix:/path` (stale socket removed, mode
// set, file removed on close), optional TLS, and graceful close within a deadline.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_LISTENER_LIMITS, listenTarget, type ListenerConfig, type ListenerLimits } from './listenerConfig';
import type { Logger } from '../observability/logger';
import type { Service } from '../util/ServiceGroup';
import { clientAuthContext, clientAuthServerOptions, enforceClientAuth } from './clientAuth';

function readTlsFile(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The certificate and key, and with mTLS the client CAs and CRLs, as they are on disk now. */
function secureContextOptions(tls: NonNullable<ListenerConfig['tls']>): https.ServerOptions {
  const own = { key: readTlsFile(tls.keyFile, 'key_file'), cert: readTlsFile(tls.crtFile, 'crt_file') };
  return tls.clientAuth ? { ...own, ...clientAuthContext(tls.clientAuth) } : own;
}

/** Swaps a TLS listener's certificate (and client CAs and CRLs) for those now on disk; open connections keep theirs. */
function reloadTls(server: http.Server, tls: ListenerConfig['tls']): void {
  if (!tls) return;
  (server as https.Server).setSecureContext(secureContextOptions(tls));
}

/** True when `req` has more header fields than `limits` allow (Node has counted them all in rawHeaders). */
export function tooManyHeaders(req: http.IncomingMessage, limits: ListenerLimits): boolean {
  return req.rawHeaders.length > limits.maxHeaderCount * 2;
}

export const TOO_MANY_HEADERS = 'jwtproxy: too many request header fields';

/** `handler`, behind the header count limit: a request beyond it is answered 431 and its connection closed. */
export function withHeaderLimit(limits: ListenerLimits, handler: http.RequestListener): http.RequestListener {
  return (req, res) => {
    if (!tooManyHeaders(req, limits)) return handler(req, res);
    const body = `${TOO_MANY_HEADERS} (at most ${limits.maxHeaderCount})\n`;
    res.writeHead(431, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  };
}

/** How long a refused client's remaining bytes are read and dropped before its connection is closed. */
const LINGER_MS = 2000;

/** Node checks the request and header timeouts on this beat (30 s by default): short timeouts get a faster one. */
function checkingInterval(limits: ListenerLimits): number {
  const shortest = Math.min(...[limits.headersTimeoutMs, limits.requestTimeoutMs].filter((ms) => ms > 0), 300_000);
  return Math.min(30_000, Math.max(50, Math.floor(shortest / 10)));
}

/**
 * An HTTP(S) server for a proxy: malformed requests get a 400, a head beyond the limits a 431, and
 * errors after listening (EMFILE when out of descriptors…) are logged instead of crashing the process.
 */
function createServer(tls: ListenerConfig['tls'], logger: Logger, handler?: http.RequestListener, limits: ListenerLimits = DEFAULT_LISTENER_LIMITS): http.Server {
  const options: http.ServerOptions = {
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
    maxHeaderSize: limits.maxHeaderBytes,
  };
  const guarded = handler && withHeaderLimit(limits, handler);
  const server = tls ? https.createServer({ ...options, ...secureContextOptions(tls), ...(tls.clientAuth && clientAuthServerOptions(tls.clientAuth)) }, guarded) : http.createServer(options, guarded);
  if (tls?.clientAuth) enforceClientAuth(server as https.Server, tls.clientAuth, logger);
  // The count is checked once the head is read (withHeaderLimit), with its own answer: Node.js 20
  // dropped fields beyond maxHeadersCount, Node.js 22+ refuse them with a bare parse error. The
  // head's size (maxHeaderSize) bounds what Node holds meanwhile.
  server.maxHeadersCount = 0;
  const answered = new WeakSet<object>();
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // The parser may report the same connection again while its rest is read and dropped.
    if (answered.has(socket)) return;
    // Not the error object: it carries the raw packet (up to max_header_bytes of the client's bytes).
    logger.debug({ code: error.code, error: error.message }, 'malformed client request');
    // Mid-answer (a request timeout while the response streams) no status line can be sent any more.
    if (!socket.writable || (socket as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent) return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
    answered.add(socket);
    // Lingering close: what the client is still sending is read and dropped for a moment, so the
    // close does not reset the connection before the client has read the answer.
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
  server.on('error', (error) => {
    if (server.listening) logger.error({ err: error }, 'listener error');
  });
  return server;
}

/** True when something accepts connections on the unix socket at `path`. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Removes a unix socket left behind by a process that died; refuses to steal a live one. */
export async function removeStaleSocket(path: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch {
    return;
  }
  // Shaped like the errors of listen(), which name the address they could not take.
  const failure = (message: string, code: string) => Object.assign(new Error(message), { code, syscall: 'listen', address: path });
  if (!stat.isSocket()) throw failure(`${path} exists and is not a unix socket; remove it or choose another path`, 'EEXIST');
  if (await socketInUse(path)) throw failure(`another process is listening on ${path}`, 'EADDRINUSE');
  fs.unlinkSync(path);
}

async function listen(server: net.Server, config: Pick<ListenerConfig, 'listenAddr' | 'socketPermission'>, options: { removeStale: boolean } = { removeStale: true }): Promise<void> {
  const target = listenTarget(config.listenAddr);
  if ('path' in target && options.removeStale) await removeStaleSocket(target.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if ('path' in target) {
    fs.chmodSync(target.path, config.socketPermission);
    server.once('close', () => fs.rmSync(target.path, { force: true }));
  }
}

/** The URL clients reach a listening server at (tests and logs). */
function serverUrl(server: net.Server, scheme: 'http' | 'https' = 'http'): string {
  const address = server.address();
  if (typeof address === 'string') return `unix:${address}`;
  if (!address) throw new Error('server is not listening');
  const host = address.family === 'IPv6' ? `[${address.address === '::' ? '::1' : address.address}]` : address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/**
 * Stops accepting, lets in-flight requests finish for up to `timeoutMs`, then cuts what
 * is left, including `tunnels`: upgraded or CONNECT sockets the server no longer tracks.
 */
function closeGracefully(server: http.Server, timeoutMs: number, tunnels?: ReadonlySet<Duplex>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const deadline = setTimeout(
      () => {
        server.closeAllConnections();
        for (const socket of tunnels ?? []) socket.destroy();
      },
      Math.max(0, timeoutMs),
    );
    // Keep-alive connections become idle as their last request ends: close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(deadline);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** What a listener is set up from: where, with which TLS and limits, and how long a stop waits for requests in flight. */
export interface ListenerSettings extends Pick<ListenerConfig, 'listenAddr' | 'socketPermission' | 'shutdownTimeoutMs' | 'tls'> {
  limits?: ListenerLimits;
}

/**
 * One listening server, set up the same way for the signer, the verifiers, the key registry, the
 * external evaluation endpoint and health: created with its TLS and limits, listening on its
 * address (a stale unix socket removed first, unless another process owns that), reachable at
 * `url`, its certificate re-read on reload, closed within its shutdown timeout with `tunnels` cut last.
 */
export class Listener implements Service {
  readonly server: http.Server;

  constructor(
    private readonly settings: ListenerSettings,
    logger: Logger,
    handler: http.RequestListener,
    private readonly options: { removeStaleSocket?: boolean; tunnels?: ReadonlySet<Duplex> } = {},
  ) {
    this.server = createServer(settings.tls, logger, handler, settings.limits);
  }

  start(): Promise<void> {
    return listen(this.server, this.settings, { removeStale: this.options.removeStaleSocket ?? true });
  }

  stop(): Promise<void> {
    return closeGracefully(this.server, this.settings.shutdownTimeoutMs, this.options.tunnels);
  }

  async reload(): Promise<void> {
    reloadTls(this.server, this.settings.tls);
  }

  get url(): string {
    return serverUrl(this.server, this.settings.tls ? 'https' : 'http');
  }
}
