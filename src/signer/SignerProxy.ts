// The signer_proxy: a forward proxy that attaches `Authorization: Bearer <JWT>` to every
// request it forwards — plain HTTP (absolute-URI requests) and HTTPS (CONNECT, intercepted
// by the injected MITM interceptor) — to the destinations its policy allows. A client's own
// Authorization header is moved to X-Forwarded-Authorization, so the verifier reads our token
// and the origin still gets it.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { Agent } from 'undici';
import { ServiceGroup } from '../util/ServiceGroup';
import { isLoopbackListenAddr } from '../proxy/listenerConfig';
import type { Claims } from '../jwt/token';
import { NoSigningKeyError, type PrivateKeySource } from '../keys/PrivateKeySource';
import { AccessLog, type AccessEntry } from '../observability/AccessLog';
import type { Logger } from '../observability/logger';
import type { ProxyMetrics, SignerResult } from '../observability/metrics';
import { forwardRequest, forwardUpgrade, UpstreamError, type OutgoingRequest } from '../proxy/forwardRequest';
import { forwardableRequestHeaders } from '../proxy/headers';
import { Listener, TOO_MANY_HEADERS, tooManyHeaders } from '../proxy/listener';
import { endWithResponse } from '../proxy/rawResponse';
import { closeIfBodyUnread } from '../proxy/requestBody';
import { readTrustedCertificates } from '../proxy/trustedCertificates';
import { ConnectTargetError, hostHeaderMatchesTarget, parseConnectTarget, type ConnectTarget } from '../proxy/mitm/connectTarget';
import type { ConnectInterceptor } from '../proxy/mitm/MitmInterceptor';
import type { Clock } from '../util/clock';
import type { DestinationRefusalReason } from './DestinationPolicy';
import { parseProxyTarget, ProxyTargetError, type Destination, type ProxyTarget } from './proxyTarget';
import { TokenSigner } from './TokenSigner';
import type { SignerConfig, SignerProxyConfig } from './signerConfig';

const ORIGIN_FORM_REFUSAL = 'This is a forward proxy server. Does not respond to non-proxy requests.\n';
const CLIENT_AUTHORIZATION_HEADER = 'x-forwarded-authorization';

export interface SignerProxyDeps {
  keys: PrivateKeySource;
  /** Intercepts CONNECT (HTTPS); absent when no MITM CA is configured, and CONNECT is then refused. */
  interceptor?: ConnectInterceptor;
  clock: Clock;
  logger: Logger;
  removeStaleSocket?: boolean;
  /** Whether this process warns about the configuration at start: once per deployment, not once per worker. */
  warnsAboutConfig?: boolean;
  /** Where requests are counted; absent: not counted. */
  metrics?: ProxyMetrics;
}

type Refusal = { status: number; body: string };

const CONNECT_DISABLED: Refusal = { status: 405, body: 'jwtproxy: CONNECT is disabled: no MITM CA is configured (ca_key_file, ca_crt_file)' };
const REFUSAL_REASONS: Record<DestinationRefusalReason, string> = {
  not_allowed: 'not in allowed_destinations',
  link_local_or_metadata: 'a link-local or cloud metadata address, refused unless allowed_destinations names it',
};

/** A refusal or failure: when the request body was not read, the connection ends with it. */
function plain(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  closeIfBodyUnread(req, res);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
}

export class SignerProxy {
  private readonly listener: Listener;
  private readonly server: Server;
  private readonly signer: TokenSigner;
  private readonly agent: Agent;
  private readonly signerConfig: SignerConfig;
  /** Headers never forwarded as sent: ours replace them, or they became claims. */
  private readonly consumedHeaders: Set<string>;
  /** CONNECT and upgraded sockets, cut at the end of the shutdown grace. */
  private readonly tunnels = new Set<Duplex>();
  private lastNoKeyReason?: string;
  private readonly parts: ServiceGroup;
  private readonly accessLog: AccessLog;

  constructor(
    private readonly config: SignerProxyConfig,
    private readonly deps: SignerProxyDeps,
  ) {
    if (!config.signer) throw new Error('the signer proxy needs a signer configuration');
    this.signerConfig = config.signer;
    this.signer = new TokenSigner(config.signer, deps.keys, deps.clock);
    this.accessLog = new AccessLog(deps.logger, 'signer_proxy', config.accessLog);
    const ca = readTrustedCertificates(config.trustedCertificates, 'trusted_certificates');
    this.agent = new Agent({ connect: { ca, rejectUnauthorized: !config.insecureSkipVerify }, keepAliveTimeout: 30_000 });
    this.consumedHeaders = new Set(['host', 'authorization', CLIENT_AUTHORIZATION_HEADER, ...Object.values(config.signer.headerClaims)]);
    this.listener = new Listener(config, deps.logger, (req, res) => this.handleRequest(req, res), { removeStaleSocket: deps.removeStaleSocket, tunnels: this.tunnels });
    this.server = this.listener.server;
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleConnect(req, socket, head));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    const listening = { start: () => this.listener.start(), stop: () => this.close(), reload: () => this.listener.reload() };
    this.parts = new ServiceGroup([...(deps.interceptor ? [deps.interceptor] : []), deps.keys, listening]);
  }

  get url(): string {
    return this.listener.url;
  }

  /** A part that fails to start stops the parts started before it (a pending key is revoked). */
  async start(): Promise<void> {
    const warns = this.deps.warnsAboutConfig ?? true;
    if (warns && !this.deps.interceptor) this.deps.logger.warn('no MITM CA configured (ca_key_file, ca_crt_file): CONNECT requests, i.e. HTTPS, will be refused');
    await this.parts.start();
    if (warns && !this.config.allowedDestinations.restricted && !isLoopbackListenAddr(this.config.listenAddr)) {
      this.deps.logger.warn(
        { listen: this.config.listenAddr },
        'the signer proxy listens beyond loopback without allowed_destinations: any client that reaches it gets tokens signed for any destination; list them in signer_proxy.allowed_destinations',
      );
    }
    this.deps.logger.info({ listen: this.config.listenAddr, address: this.url, issuer: this.signerConfig.issuer, mitm: Boolean(this.deps.interceptor) }, 'signer proxy started');
  }

  stop(): Promise<void> {
    return this.parts.stop();
  }

  /** Re-reads the MITM CA, a preshared private key and the TLS certificate (SIGHUP). */
  reload(): Promise<void> {
    return this.parts.reload();
  }

  private async close(): Promise<void> {
    await this.listener.stop();
    await this.agent.destroy();
  }

  private track(socket: Duplex): void {
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
  }

  /** The request's destination, or why it cannot be proxied. */
  private targetOf(req: IncomingMessage): ProxyTarget | Refusal {
    const tunnel = this.deps.interceptor?.targetOf(req.socket);
    if (tunnel) {
      if (!req.url?.startsWith('/')) return { status: 400, body: 'jwtproxy: requests inside a CONNECT tunnel must be in origin form' };
      if (!hostHeaderMatchesTarget(req.headers.host, tunnel)) {
        return { status: 421, body: `jwtproxy: the Host header does not match the CONNECT target ${tunnel.authority}` };
      }
      return { origin: `https://${tunnel.authority}`, audience: tunnel.origin, host: req.headers.host ?? tunnel.authority, path: req.url, destination: tunnel };
    }
    if (req.url?.startsWith('/')) return { status: 500, body: ORIGIN_FORM_REFUSAL };
    let target: ProxyTarget;
    try {
      target = parseProxyTarget(req.url ?? '');
    } catch (error) {
      if (!(error instanceof ProxyTargetError)) throw error;
      this.deps.logger.info({ err: error }, 'request refused');
      return { status: 400, body: `jwtproxy: ${error.message}` };
    }
    return this.destinationRefusal(target.destination) ?? target;
  }

  /** A 403 for a destination the policy refuses, logged with the reason; undefined when it is allowed. */
  private destinationRefusal(destination: Destination): Refusal | undefined {
    const reason = this.config.allowedDestinations.refusalOf(destination);
    if (!reason) return undefined;
    this.deps.logger.info({ destination: destination.authority, reason: REFUSAL_REASONS[reason] }, 'destination not allowed');
    return { status: 403, body: `jwtproxy: destination not allowed: ${destination.authority}` };
  }

  private headerClaims(req: IncomingMessage): Claims | undefined {
    let claims: Claims | undefined;
    for (const [claim, header] of Object.entries(this.signerConfig.headerClaims)) {
      const value = req.headers[header];
      if (value === undefined) continue;
      (claims ??= {})[claim] = Array.isArray(value) ? value.join(', ') : value;
    }
    return claims;
  }

  /** Signs for the target and builds the upstream request; a Refusal when no key is usable. */
  private async outgoing(req: IncomingMessage, target: ProxyTarget): Promise<OutgoingRequest | Refusal> {
    let token: string;
    try {
      token = await this.signer.sign(target.audience, this.headerClaims(req));
      this.lastNoKeyReason = undefined;
    } catch (error) {
      if (!(error instanceof NoSigningKeyError)) throw error;
      // Once per reason, not once per request: while a key awaits approval every request meets this.
      if (error.message !== this.lastNoKeyReason) {
        this.lastNoKeyReason = error.message;
        this.deps.logger.warn({ reason: error.message }, 'requests refused: no signing key');
      }
      return { status: 502, body: `jwtproxy: unable to sign request: ${error.message}` };
    }
    // Ours first: an upstream that keeps only its first N header fields (Node: 2000) keeps the token.
    const headers = ['host', target.host, 'authorization', `Bearer ${token}`];
    const clientAuthorization = req.headers.authorization;
    if (clientAuthorization) headers.push(CLIENT_AUTHORIZATION_HEADER, clientAuthorization);
    forwardableRequestHeaders(req.rawHeaders, req.headers.connection, this.consumedHeaders, headers);
    return { origin: target.origin, path: target.path, headers };
  }

  private record(result: SignerResult, startedAt: number, entry?: AccessEntry): void {
    this.deps.metrics?.signerAnswered(result, (performance.now() - startedAt) / 1000);
    if (entry && result !== 'forwarded') entry.reason = result;
  }

  private handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const target = this.targetOf(req);
    // The destination's path without its query (it may hold a credential); a refused target is not logged as sent.
    const entry: AccessEntry = { method: req.method ?? '', path: 'status' in target ? '' : target.path.split('?')[0], client: req.socket.remoteAddress ?? 'unknown' };
    if (!('status' in target)) entry.upstream = target.origin;
    this.accessLog.track(res, entry, startedAt);
    if ('status' in target) {
      plain(req, res, target.status, target.body);
      return this.record('refused', startedAt, entry);
    }
    this.outgoing(req, target)
      .then(async (outgoing) => {
        if ('status' in outgoing) {
          plain(req, res, outgoing.status, outgoing.body);
          return this.record('no_key', startedAt, entry);
        }
        this.record((await forwardRequest(this.agent, outgoing, req, res)) === 'answered' ? 'forwarded' : 'client_left', startedAt, entry);
      })
      .catch((error: Error) => {
        if (error instanceof UpstreamError) {
          this.deps.logger.info({ target: target.origin, err: error.message }, 'upstream unavailable');
          if (!res.headersSent) plain(req, res, 502, `jwtproxy: upstream unavailable: ${error.message}`);
          return this.record('upstream_error', startedAt, entry);
        }
        this.record('error', startedAt, entry);
        this.deps.logger.error({ err: error, method: req.method, target: target.origin, path: target.path.split('?')[0] }, 'request failed unexpectedly');
        if (!res.headersSent) plain(req, res, 500, 'jwtproxy: internal error');
        else res.destroy();
      });
  }

  private handleConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.track(socket);
    if (tooManyHeaders(req, this.config.limits)) {
      socket.on('error', () => socket.destroy());
      return endWithResponse(socket, 431, `${TOO_MANY_HEADERS} (at most ${this.config.limits.maxHeaderCount})\n`);
    }
    const { interceptor } = this.deps;
    const admitted = interceptor ? this.admitConnect(req) : CONNECT_DISABLED;
    if ('status' in admitted) {
      socket.on('error', () => socket.destroy());
      return endWithResponse(socket, admitted.status, admitted.body);
    }
    interceptor?.intercept(admitted, socket, head, this.server);
  }

  /** The CONNECT target, validated and allowed, or why it is refused (400, 403). */
  private admitConnect(req: IncomingMessage): ConnectTarget | Refusal {
    let target: ConnectTarget;
    try {
      target = parseConnectTarget(req.url ?? '');
    } catch (error) {
      if (!(error instanceof ConnectTargetError)) throw error;
      this.deps.logger.info({ err: error }, 'MITM tunnel refused');
      return { status: 400, body: `jwtproxy: ${error.message}\n` };
    }
    return this.destinationRefusal(target) ?? target;
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => this.deps.logger.debug({ err: error }, 'upgrade client socket error'));
    this.track(socket);
    socket.once('end', () => socket.destroy());
    const refuse = ({ status, body }: Refusal) => endWithResponse(socket, status, body);
    if (tooManyHeaders(req, this.config.limits)) return refuse({ status: 431, body: `${TOO_MANY_HEADERS} (at most ${this.config.limits.maxHeaderCount})\n` });
    const target = this.targetOf(req);
    if ('status' in target) return refuse(target);
    this.outgoing(req, target)
      .then(async (outgoing) => {
        if ('status' in outgoing) return refuse(outgoing);
        await forwardUpgrade(this.agent, outgoing, req, socket, head);
      })
      .catch((error: Error) => {
        this.deps.logger.info({ target: target.origin, err: error.message }, 'upgrade failed');
        refuse({ status: 502, body: `jwtproxy: upstream unavailable: ${error.message}` });
      });
  }
}
