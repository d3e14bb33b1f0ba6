// One verifier_proxies entry: a reverse proxy that lets a request through to its
// upstreams only when the Authenticator accepts its token.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { createClaimsVerifier } from '../claims/createClaimsVerifier';
import type { VerifierProxyConfig } from '../config/types';
import { ServiceGroup } from '../util/ServiceGroup';
import { audienceOrigin } from '../jwt/registeredClaims';
import type { Claims } from '../jwt/token';
import type { KeyServer } from '../keys/KeyServer';
import type { NonceStore } from '../nonce/NonceStore';
import type { Logger } from '../observability/logger';
import { requestDuration, verifierRequests } from '../observability/metrics';
import { forwardRequest, forwardUpgrade, UpstreamError, type OutgoingRequest } from '../proxy/forwardRequest';
import { appendForwardedHeaders, asciiJson, forwardableRequestHeaders } from '../proxy/headers';
import { closeGracefully, createServer, listen, reloadTls, serverUrl } from '../proxy/listener';
import { endWithResponse } from '../proxy/rawResponse';
import { UpstreamSet, upstreamTarget, type Upstream } from '../proxy/UpstreamSet';
import type { Clock } from '../util/clock';
import { Authenticator, type Verdict } from './Authenticator';

const REFUSAL_PREFIX = 'jwtproxy: unable to verify request: ';
const PROXY_FORM_REFUSAL = 'This is a reverse proxy server. Does not respond to proxy requests.\n';

export interface VerifierProxyDeps {
  keyServer: KeyServer;
  nonceStore: NonceStore;
  clock: Clock;
  logger: Logger;
  /** In a cluster worker the primary removes stale unix sockets, not each worker. */
  removeStaleSocket?: boolean;
  /** The proxy's name in metrics, e.g. "verifier_proxies[0]". */
  name?: string;
}

export class VerifierProxy {
  private readonly server: Server;
  private readonly authenticator: Authenticator;
  private readonly upstreams: UpstreamSet;
  private readonly protocol: 'http' | 'https';
  /** Headers a client may not send through: we set them ourselves. */
  private readonly replacedHeaders: Set<string>;
  private readonly claimsHeader?: string;
  private readonly parts: ServiceGroup;
  private readonly name: string;
  /** Upgraded (WebSocket) connections, cut at the end of the shutdown grace. */
  private readonly tunnels = new Set<Duplex>();

  constructor(
    private readonly config: VerifierProxyConfig,
    private readonly deps: VerifierProxyDeps,
  ) {
    const { verifier } = config;
    this.name = deps.name ?? 'verifier';
    this.authenticator = new Authenticator({
      rules: { audience: audienceOrigin(verifier.audience), maxSkewMs: verifier.maxSkewMs, maxTtlMs: verifier.maxTtlMs },
      keyServer: deps.keyServer,
      nonceStore: deps.nonceStore,
      claimsVerifiers: verifier.claimsVerifiers.map(createClaimsVerifier),
      clock: deps.clock,
    });
    this.upstreams = new UpstreamSet(verifier.upstreams, {
      failureTimeoutMs: verifier.upstreamFailureTimeoutMs,
      clock: deps.clock,
      insecureSkipVerify: verifier.upstreamInsecureSkipVerify,
      trustedCertificates: verifier.upstreamTrustedCertificates,
    });
    this.protocol = config.tls ? 'https' : 'http';
    this.claimsHeader = verifier.claimsHeader;
    // Authorization and Host are sent once, as checked: a duplicate could carry a forged identity.
    this.replacedHeaders = new Set(['authorization', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
    if (this.claimsHeader) this.replacedHeaders.add(this.claimsHeader);
    this.server = createServer(config.tls, deps.logger, (req, res) => this.handleRequest(req, res));
    // In forward-auth mode nothing is forwarded: an Upgrade request is answered like any other.
    if (!verifier.forwardAuth) this.server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    const listener = {
      start: () => listen(this.server, config, { removeStale: deps.removeStaleSocket ?? true }),
      stop: () => this.close(),
      reload: async () => reloadTls(this.server, config.tls),
    };
    this.parts = new ServiceGroup([deps.keyServer, deps.nonceStore, listener]);
  }

  get url(): string {
    return serverUrl(this.server, this.protocol);
  }

  /** A part that fails to start stops the parts started before it. */
  async start(): Promise<void> {
    await this.parts.start();
    const { upstreams, audience, forwardAuth } = this.config.verifier;
    this.deps.logger.info({ listen: this.config.listenAddr, address: this.url, upstreams, forwardAuth, audience: audience.href }, 'verifier proxy started');
  }

  stop(): Promise<void> {
    return this.parts.stop();
  }

  /** Re-reads the key server's keys and the TLS certificate (SIGHUP). */
  reload(): Promise<void> {
    return this.parts.reload();
  }

  private async close(): Promise<void> {
    await closeGracefully(this.server, this.config.shutdownTimeoutMs, this.tunnels);
    await this.upstreams.destroy();
  }

  private record(result: 'forwarded' | 'allowed' | 'client_left' | 'refused' | 'unavailable' | 'upstream_error' | 'error', reason: string, startedAt: number): void {
    verifierRequests.inc({ proxy: this.name, result, reason });
    requestDuration.observe({ proxy: this.name }, (performance.now() - startedAt) / 1000);
  }

  private handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    if (!req.url?.startsWith('/')) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(PROXY_FORM_REFUSAL);
      this.record('refused', 'proxy form', startedAt);
      return;
    }
    this.authenticator
      .authenticate(req.headers.authorization)
      .then(async (verdict) => {
        if (!verdict.ok) {
          this.refuse(req, res, verdict);
          return this.record(verdict.status === 503 ? 'unavailable' : 'refused', verdict.reason, startedAt);
        }
        if (this.config.verifier.forwardAuth) return this.allow(res, verdict.claims, startedAt);
        this.record(await this.forward(req, res, verdict.claims), '', startedAt);
      })
      .catch((error: Error) => {
        this.record('error', '', startedAt);
        this.deps.logger.error({ err: error, url: req.url }, 'request failed unexpectedly');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('jwtproxy: internal error');
        else res.destroy();
      });
  }

  private refuse(req: IncomingMessage, res: ServerResponse, verdict: Extract<Verdict, { ok: false }>): void {
    const log = verdict.status === 503 ? this.deps.logger.warn : this.deps.logger.info;
    log.call(this.deps.logger, { reason: verdict.reason, cause: verdict.cause?.message, url: req.url, client: req.socket.remoteAddress }, 'request refused');
    const body = REFUSAL_PREFIX + verdict.reason;
    const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff' };
    let status: number = verdict.status;
    // An auth gateway tells "no credentials" (401, ask for them) from "bad credentials" (403).
    if (this.config.verifier.forwardAuth && req.headers.authorization === undefined) {
      status = 401;
      headers['www-authenticate'] = 'Bearer';
    }
    res.writeHead(status, headers).end(body);
  }

  /** Forward-auth mode: the gateway asking is told yes, with the verified claims if configured. */
  private allow(res: ServerResponse, claims: Claims, startedAt: number): void {
    res.writeHead(200, this.claimsHeader ? { [this.claimsHeader]: asciiJson(claims), 'content-length': 0 } : { 'content-length': 0 }).end();
    this.record('allowed', '', startedAt);
  }

  private outgoing(req: IncomingMessage, upstream: Upstream, claims: Claims): OutgoingRequest {
    const headers = forwardableRequestHeaders(req.rawHeaders, req.headers.connection, this.replacedHeaders);
    if (req.headers.host) headers.push('host', req.headers.host);
    if (req.headers.authorization) headers.push('authorization', req.headers.authorization);
    appendForwardedHeaders(headers, req.headers, req.socket.remoteAddress, this.protocol);
    if (this.claimsHeader) headers.push(this.claimsHeader, asciiJson(claims));
    return { origin: upstream.origin, path: upstreamTarget(upstream, req.url!), headers };
  }

  /** Tries upstreams in turn while they fail before consuming the body; 502 when none answers. */
  private async forward(req: IncomingMessage, res: ServerResponse, claims: Claims): Promise<'forwarded' | 'client_left' | 'upstream_error'> {
    let upstream = this.upstreams.pick();
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await forwardRequest(upstream.pool, this.outgoing(req, upstream, claims), req, res);
        if (outcome === 'client_left') return outcome;
        if (upstream.downUntil !== 0) this.recovered(upstream);
        return 'forwarded';
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        this.failed(upstream, error);
        if (!error.retryable || attempt >= this.upstreams.size || res.destroyed) {
          res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' }).end(`jwtproxy: upstream unavailable: ${error.message}`);
          return 'upstream_error';
        }
        upstream = this.upstreams.pick(upstream);
      }
    }
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => this.deps.logger.debug({ err: error }, 'upgrade client socket error'));
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
    // The server allows half-open sockets; a tunnel whose client has finished is over.
    socket.once('end', () => socket.destroy());
    if (!req.url?.startsWith('/')) return endWithResponse(socket, 500, PROXY_FORM_REFUSAL);
    this.authenticator
      .authenticate(req.headers.authorization)
      .then(async (verdict) => {
        if (!verdict.ok) return endWithResponse(socket, verdict.status, REFUSAL_PREFIX + verdict.reason);
        const upstream = this.upstreams.pick();
        const outgoing = this.outgoing(req, upstream, verdict.claims);
        await forwardUpgrade(upstream.pool, outgoing, req, socket, head).catch((error: UpstreamError) => {
          this.failed(upstream, error);
          endWithResponse(socket, 502, `jwtproxy: upstream unavailable: ${error.message}`);
        });
      })
      .catch((error: Error) => {
        this.deps.logger.error({ err: error }, 'upgrade failed unexpectedly');
        socket.destroy();
      });
  }

  private failed(upstream: Upstream, error: Error): void {
    // Log the change of state, not every request that meets a dead upstream.
    if (upstream.downUntil <= this.deps.clock()) {
      this.deps.logger.warn({ upstream: upstream.name, err: error.message }, 'upstream failed; skipping it for a while');
    }
    this.upstreams.markFailed(upstream);
  }

  private recovered(upstream: Upstream): void {
    this.upstreams.markHealthy(upstream);
    this.deps.logger.info({ upstream: upstream.name }, 'upstream answering again');
  }
}
