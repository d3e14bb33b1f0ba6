// One verifier_proxies entry: a reverse proxy that lets a request through to its
// upstreams only when the Authenticator accepts its token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { PolicyInput } from '../claims/ClaimsVerifier';
import { FORWARDED_CLIENT_CERT_HEADER } from './clientCertificatesConfig';
import { ServiceGroup } from '../util/ServiceGroup';
import type { Claims } from '../jwt/token';
import type { KeyServer } from '../keys/KeyServer';
import { NonceStoreUnavailableError, type NonceStore } from '../nonce/NonceStore';
import { AccessLog, type AccessEntry } from '../observability/AccessLog';
import type { Logger } from '../observability/logger';
import type { ProxyMetrics, VerifierResult } from '../observability/metrics';
import { forwardRequest, forwardUpgrade, UpstreamError, type OutgoingRequest } from '../proxy/forwardRequest';
import { addForwardedHeaders, asciiJson } from '../proxy/headers';
import { Listener, TOO_MANY_HEADERS, tooManyHeaders, withHeaderLimit } from '../proxy/listener';
import { normalizePath } from '../proxy/normalizePath';
import { endWithResponse } from '../proxy/rawResponse';
import { closeIfBodyUnread } from '../proxy/requestBody';
import { joinedTarget, UpstreamSet, type Upstream } from '../proxy/UpstreamSet';
import type { Clock } from '../util/clock';
import { goBody, REQUEST_VERDICTS, refusal, type Refused, type RefusalCode, type RequestVerdictName, type VerdictMetric } from '../verdicts/verdicts';
import type { Verdict } from './Authenticator';
import { HeaderMappingError, mappedHeaders, wireValue } from '../claims/claimsToHeaders';
import { ClientCertificateSource } from './ClientCertificateSource';
import { forwardedClientCert } from './forwardedClientCert';
import { HttpIdentityExpander } from './HttpIdentityExpander';
import { loginRedirect, publicUrl, refusalResponse, wantsHtml } from './refusals';
import type { RequestView, UnreadableView } from './RequestView';
import { buildVerifierPolicy, type VerifierPolicy } from './VerifierPolicy';
import type { VerifierConfig, VerifierProxyConfig } from './verifierConfig';

type Accepted = Extract<Verdict, { ok: true }>;

/**
 * Forward-auth: the gateway passes the client's headers on to the application, so a provider
 * identity header (Cf-Access-Authenticated-User-Email…) the client sent cannot be stripped here.
 * One that the verified token does not vouch for, with this value, refuses the request.
 */
function forgedProviderHeader(policy: VerifierPolicy, view: RequestView, identity: [string, string][]): boolean {
  const provider = policy.verifier.providerHeaders;
  if (!provider || (provider.names.length === 0 && provider.prefixes.length === 0)) return false;
  for (const [name, value] of Object.entries(view.headers)) {
    if (!provider.names.includes(name) && !provider.prefixes.some((prefix) => name.startsWith(prefix))) continue;
    if (!identity.some(([vouched, vouchedValue]) => vouched === name && vouchedValue === value)) return true;
  }
  return false;
}

/** The answer to a request refused before any token is looked at: its forward-auth contract, request target or path cannot be read. */
function requestRefusal(why: RequestVerdictName, config: VerifierProxyConfig['verifier']['forwardAuthOptions']): [status: number, body: string] {
  const { status, body } = REQUEST_VERDICTS[why];
  return [status, body(config)];
}

/**
 * The verdict's level, but only debug for a refusal the nonce store has logged the outage of (it
 * will log its end with the count of refusals): one line per request would flood the log.
 */
function refusalLogLevel(verdict: Refused): 'debug' | 'info' | 'warn' {
  return verdict.cause instanceof NonceStoreUnavailableError && verdict.cause.outageReported ? 'debug' : verdict.level;
}

/** 504 when the upstream took too long, 502 when it failed. */
function upstreamFailure(error: UpstreamError): [status: number, body: string] {
  return error.timedOut ? [504, 'jwtproxy: upstream timed out'] : [502, `jwtproxy: upstream unavailable: ${error.message}`];
}

/** How long a replaced policy's claims verifiers stay loaded for the requests that began under it. */
const REPLACED_POLICY_GRACE_MS = 60_000;

/** A policy built and loaded, not yet in use: all verifiers of a reload switch together, or none. */
export interface PreparedPolicy {
  adopt(): void;
  discard(): Promise<void>;
}

export interface VerifierProxyDeps {
  keyServer: KeyServer;
  /** Absent when the verifier's tokens may be reused until exp. */
  nonceStore?: NonceStore;
  clock: Clock;
  logger: Logger;
  /** In a cluster worker the primary removes stale unix sockets, not each worker. */
  removeStaleSocket?: boolean;
  /** Whether this process warns about the configuration at start: once per deployment, not once per worker. */
  warnsAboutConfig?: boolean;
  /** The proxy's name in metrics, e.g. "verifier_proxies[0]". */
  name?: string;
  /** Where requests are counted; absent: not counted. */
  metrics?: ProxyMetrics;
  /**
   * True when reloads replace the whole policy (preparePolicy, from the re-read file): the
   * proxy's own reload then leaves the claims verifiers alone. Otherwise it reloads them in place.
   */
  policyReplacedOnReload?: boolean;
}

export class VerifierProxy {
  private readonly listener: Listener;
  /** Replaced whole on reload (SIGHUP): a request reads it once, when it arrives. */
  private policy: VerifierPolicy;
  private readonly identity?: HttpIdentityExpander;
  private readonly upstreams: UpstreamSet;
  private readonly protocol: 'http' | 'https';
  private readonly clientCertificates: ClientCertificateSource;
  private readonly parts: ServiceGroup;
  /** Replaced policies, each stopped when its grace ends (or at stop). */
  private readonly retired = new Map<NodeJS.Timeout, VerifierPolicy>();
  readonly name: string;
  /** Upgraded (WebSocket) connections, cut at the end of the shutdown grace. */
  private readonly tunnels = new Set<Duplex>();
  private readonly accessLog: AccessLog;

  constructor(
    private readonly config: VerifierProxyConfig,
    private readonly deps: VerifierProxyDeps,
  ) {
    const { verifier } = config;
    this.name = deps.name ?? 'verifier';
    this.accessLog = new AccessLog(deps.logger, this.name, config.accessLog);
    const identity = verifier.identity && new HttpIdentityExpander(verifier.identity, { clock: deps.clock, logger: deps.logger, name: this.name, metrics: deps.metrics });
    this.identity = identity;
    this.clientCertificates = new ClientCertificateSource(verifier.clientCertificates);
    this.policy = this.buildPolicy(verifier);
    this.upstreams = new UpstreamSet(verifier.upstreams, {
      failureTimeoutMs: verifier.upstreamFailureTimeoutMs,
      clock: deps.clock,
      insecureSkipVerify: verifier.upstreamInsecureSkipVerify,
      trustedCertificates: verifier.upstreamTrustedCertificates,
      timeouts: verifier.upstreamTimeouts,
    });
    this.protocol = config.tls ? 'https' : 'http';
    this.listener = new Listener(config, deps.logger, (req, res) => this.handleRequest(req, res), { removeStaleSocket: deps.removeStaleSocket, tunnels: this.tunnels });
    // `Expect: 100-continue` is answered only once the token is good: a refused client never sends its body.
    this.listener.server.on(
      'checkContinue',
      withHeaderLimit(config.limits, (req, res) => this.handleRequest(req, res, true)),
    );
    // In forward-auth mode nothing is forwarded: an Upgrade request is answered like any other.
    if (!verifier.forwardAuth) this.listener.server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
    const listener = { start: () => this.listener.start(), stop: () => this.close(), reload: () => this.listener.reload() };
    // The policy in use when stopping is stopped: the first one, or the last that replaced it.
    const policy = {
      start: () => this.policy.services.start(),
      stop: () => this.stopPolicies(),
      reload: deps.policyReplacedOnReload ? undefined : () => this.policy.services.reload(),
    };
    this.parts = new ServiceGroup([deps.keyServer, ...(deps.nonceStore ? [deps.nonceStore] : []), ...(identity ? [identity] : []), policy, listener]);
  }

  /**
   * Builds and loads the policy of `verifier` (this proxy's entry of a re-read config) beside the
   * one in use: a script that does not load fails here, and nothing changes. What the policy does
   * not hold (listener, upstreams, key server, nonce store, identity) stays as it is.
   */
  async preparePolicy(verifier: VerifierConfig): Promise<PreparedPolicy> {
    const next = this.buildPolicy(verifier);
    await next.services.start();
    return {
      adopt: () => {
        const previous = this.policy;
        this.policy = next;
        const timer = setTimeout(() => {
          this.retired.delete(timer);
          previous.services.stop().catch((error: Error) => this.deps.logger.warn({ err: error }, 'a replaced policy failed to stop'));
        }, REPLACED_POLICY_GRACE_MS);
        timer.unref();
        this.retired.set(timer, previous);
      },
      discard: () => next.services.stop(),
    };
  }

  private buildPolicy(verifier: VerifierConfig): VerifierPolicy {
    const { keyServer, nonceStore, clock } = this.deps;
    return buildVerifierPolicy(verifier, { keyServer, nonceStore, identityExpander: this.identity, clientCertificates: this.clientCertificates, clock });
  }

  private async stopPolicies(): Promise<void> {
    const retired = [...this.retired.values()];
    for (const timer of this.retired.keys()) clearTimeout(timer);
    this.retired.clear();
    for (const policy of [this.policy, ...retired]) await policy.services.stop();
  }

  get url(): string {
    return this.listener.url;
  }

  /** A part that fails to start stops the parts started before it. */
  async start(): Promise<void> {
    await this.parts.start();
    const { upstreams, audience, forwardAuth, provider, rules, nonceStorage } = this.config.verifier;
    const audiences = rules.claims.audiences ? [...rules.claims.audiences] : undefined;
    this.deps.logger.info({ listen: this.config.listenAddr, address: this.url, upstreams, forwardAuth, provider, audience: audience?.href, audiences }, 'verifier proxy started');
    if (!nonceStorage && (this.deps.warnsAboutConfig ?? true)) {
      this.deps.logger.warn('single_use is off: tokens without jti are accepted and may be reused until they expire (as identity-aware proxies issue them)');
    }
  }

  /** False while the key server has no usable keys (a provider that has not answered yet), or the nonce store cannot record claims. */
  ready(): boolean {
    return (this.deps.keyServer.ready?.() ?? true) && (this.deps.nonceStore?.ready?.() ?? true);
  }

  stop(): Promise<void> {
    return this.parts.stop();
  }

  /** Re-reads the key server's keys, the TLS certificate and claims verifier scripts (SIGHUP). */
  reload(): Promise<void> {
    return this.parts.reload();
  }

  private async close(): Promise<void> {
    await this.listener.stop();
    await this.upstreams.destroy();
  }

  /** Counted by stable codes: `code` the kind of refusal, `reason` the check ('' when none applies). */
  private record(result: VerifierResult, startedAt: number, code: RefusalCode | 'bad_request' | '' = '', reason: VerdictMetric | RequestVerdictName | 'excluded' | '' = ''): void {
    this.deps.metrics?.verifierAnswered(this.name, result, code, reason, (performance.now() - startedAt) / 1000);
  }

  private handleRequest(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
    const startedAt = performance.now();
    const policy = this.policy;
    const read = policy.reader.read(req, this.protocol);
    const entry: AccessEntry =
      typeof read === 'string'
        ? { method: req.method ?? '', path: normalizePath((req.url ?? '').split('?')[0]), client: req.socket.remoteAddress ?? 'unknown' }
        : { method: read.method, path: read.path, client: read.client };
    this.accessLog.track(res, entry, startedAt);
    const unreadable = this.unreadable(policy, read);
    if (unreadable) {
      entry.reason = unreadable;
      closeIfBodyUnread(req, res);
      const [status, body] = requestRefusal(unreadable, this.config.verifier.forwardAuthOptions);
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
      this.record('refused', startedAt, 'bad_request', unreadable);
      return;
    }
    const view = read as RequestView;
    const { forwardAuth } = this.config.verifier;
    if (this.excluded(policy, view)) {
      if (forwardAuth) return this.allow(policy, req, res, undefined, [], startedAt);
      if (expectsContinue) res.writeContinue();
      this.forward(policy, req, res, view, undefined, [], entry).then(
        (outcome) => this.record(outcome, startedAt, '', 'excluded'),
        (error: Error) => this.failedUnexpectedly(req, res, view, error, startedAt),
      );
      return;
    }
    this.admit(policy, view)
      .then(async ({ verdict, identity }) => {
        if (!verdict.ok) {
          entry.reason = verdict.reasonCode;
          this.refuse(policy, req, res, view, verdict);
          return this.record(verdict.status === 503 ? 'unavailable' : 'refused', startedAt, verdict.code, verdict.reasonCode);
        }
        entry.claims = verdict.claims;
        if (forwardAuth) return this.allow(policy, req, res, verdict.claims, identity, startedAt);
        if (expectsContinue) res.writeContinue();
        this.record(await this.forward(policy, req, res, view, verdict.claims, identity, entry), startedAt);
      })
      .catch((error: Error) => this.failedUnexpectedly(req, res, view, error, startedAt));
  }

  /**
   * Why a request is refused before its token is read, if it is: its request target or forward-auth
   * contract cannot be read, or its path may mean something else to the upstream than to a rule
   * that reads it (such a path is never excluded either). Undefined: `read` is a view to judge.
   */
  private unreadable(policy: VerifierPolicy, view: RequestView | UnreadableView): RequestVerdictName | undefined {
    if (typeof view === 'string') return view;
    return view.ambiguousPath && policy.readsRequest ? 'ambiguous_path' : undefined;
  }

  private failedUnexpectedly(req: IncomingMessage, res: ServerResponse, view: RequestView, error: Error, startedAt: number): void {
    this.record('error', startedAt);
    this.deps.logger.error({ err: error, method: view.method, path: view.path }, 'request failed unexpectedly');
    closeIfBodyUnread(req, res);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('jwtproxy: internal error');
    else res.destroy();
  }

  /**
   * che-jwtproxy's excludes, matched on the normalised path: `/public/../admin` is /admin, not
   * excluded. A forward-auth path whose meaning the gateway may change is never excluded.
   */
  private excluded(policy: VerifierPolicy, view: RequestView): boolean {
    const { excludes } = policy.verifier;
    if (excludes.length === 0 || view.ambiguousPath) return false;
    const { path } = view;
    return excludes.some((exclude) => (exclude.prefix ? path.startsWith(exclude.path) : path === exclude.path));
  }

  /**
   * The Authenticator's verdict on the request view and, when it accepts, the identity headers;
   * a value no header may carry refuses it.
   */
  private async admit(policy: VerifierPolicy, view: RequestView): Promise<{ verdict: Verdict; identity: [string, string][] }> {
    const audiences = policy.verifier.rules.claims.audiences;
    if (view.audience !== undefined && audiences && !audiences.has(view.audience)) {
      return { verdict: refusal('aud'), identity: [] };
    }
    const verdict = await policy.authenticator.authenticate(view);
    if (!verdict.ok) return { verdict, identity: [] };
    try {
      const identity = this.identityHeaders(policy, verdict, view);
      if (this.config.verifier.forwardAuth && forgedProviderHeader(policy, view, identity)) {
        return { verdict: refusal('forged_header'), identity: [] };
      }
      return { verdict, identity };
    } catch (error) {
      if (!(error instanceof HeaderMappingError)) throw error;
      return { verdict: refusal('header_mapping', { detail: error.message }), identity: [] };
    }
  }

  /** The headers that carry the identity upstream: the provider's own, claims_to_headers, an authorizer's decision, the client certificate. */
  private identityHeaders(policy: VerifierPolicy, { claims, identity, headers: decided }: Accepted, view: RequestView): [string, string][] {
    const certificate = view.clientCertificate;
    const input: PolicyInput = { claims, request: view, identity, client_certificate: certificate };
    const headers = policy.providerHeadersOf(claims);
    const mapped = mappedHeaders(policy.verifier.claimsToHeaders, input);
    // claims_to_headers wins over a provider header of the same name: the operator wrote it.
    const own = new Set(mapped.map(([name]) => name));
    const result = headers.length ? [...headers.filter(([name]) => !own.has(name)), ...mapped] : mapped;
    if (decided) result.push(...decided);
    if (certificate && this.config.verifier.clientCertificates.forward === 'xfcc') {
      result.push([FORWARDED_CLIENT_CERT_HEADER, wireValue(FORWARDED_CLIENT_CERT_HEADER, forwardedClientCert(certificate))]);
    }
    return result;
  }

  private refuse(policy: VerifierPolicy, req: IncomingMessage, res: ServerResponse, view: RequestView, verdict: Refused): void {
    this.deps.logger[refusalLogLevel(verdict)](
      {
        reason: verdict.reason,
        code: verdict.code,
        reasonCode: verdict.reasonCode,
        verdict: verdict.verdict,
        cause: verdict.cause?.message,
        method: view.method,
        path: view.path,
        client: view.client,
      },
      'request refused',
    );
    // A refused request's body is never read: the connection ends, so that no one can hold it by trickling the body.
    closeIfBodyUnread(req, res);
    const { authRedirectUrl, publicBasePath } = policy.verifier;
    // Without a host name there is no return URL to build (http:///evil.example/x reads as a host): refused plainly.
    if (authRedirectUrl && (verdict.code === 'missing_token' || verdict.code === 'invalid_token') && verdict.status === 403 && view.publicHost && wantsHtml(req)) {
      const location = loginRedirect(authRedirectUrl, publicUrl(view, publicBasePath));
      // nginx's auth_request understands only 401 and 403: it redirects on the Location it is given.
      const status = view.gateway === 'nginx' ? 401 : 302;
      res.writeHead(status, { location, 'content-length': 0, 'cache-control': 'no-store' }).end();
      return;
    }
    const answer = refusalResponse(policy.verifier, verdict);
    res.writeHead(answer.status, answer.headers).end(answer.body);
  }

  /** Forward-auth mode: the gateway asking is told yes, with the identity headers for it to copy. */
  private allow(policy: VerifierPolicy, req: IncomingMessage, res: ServerResponse, claims: Claims | undefined, identity: [string, string][], startedAt: number): void {
    closeIfBodyUnread(req, res);
    const headers: [string, string][] = [['content-length', '0'], ...identity];
    if (policy.claimsHeader && claims) headers.push([policy.claimsHeader, asciiJson(claims)]);
    res.writeHead(200, headers.flat()).end();
    this.record('allowed', startedAt);
  }

  /**
   * `claims` is undefined for an excluded path: it goes upstream without identity, and without
   * any token carrier. The proxy's own headers come first: an upstream that keeps only its first
   * N header fields (Node: 2000) keeps them.
   */
  private outgoing(policy: VerifierPolicy, req: IncomingMessage, view: RequestView, upstream: Upstream, claims: Claims | undefined, identity: [string, string][]): OutgoingRequest {
    const headers: string[] = [];
    if (req.headers.host) headers.push('host', req.headers.host);
    const peer = req.socket.remoteAddress;
    addForwardedHeaders(headers, req.headers, peer, this.protocol, view.fromTrustedProxy);
    if (policy.claimsHeader && claims) headers.push(policy.claimsHeader, asciiJson(claims));
    for (const [name, value] of identity) headers.push(name, value);
    policy.reader.forwardedHeaders(req, claims ? view.token.token : undefined, view.fromTrustedProxy, headers);
    return { origin: upstream.origin, path: joinedTarget(upstream, view.path, view.query), headers };
  }

  /** Tries upstreams in turn while they fail before consuming the body; 502 when none answers. */
  private async forward(
    policy: VerifierPolicy,
    req: IncomingMessage,
    res: ServerResponse,
    view: RequestView,
    claims: Claims | undefined,
    identity: [string, string][],
    entry?: AccessEntry,
  ): Promise<'forwarded' | 'client_left' | 'upstream_error'> {
    let upstream = this.upstreams.pick();
    for (let attempt = 1; ; attempt++) {
      if (entry) entry.upstream = upstream.name;
      try {
        const outcome = await forwardRequest(upstream.pool, this.outgoing(policy, req, view, upstream, claims, identity), req, res);
        if (outcome === 'client_left') return outcome;
        if (upstream.downUntil !== 0) this.recovered(upstream);
        return 'forwarded';
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        this.failed(upstream, error);
        if (!error.retryable || attempt >= this.upstreams.size || res.destroyed) {
          closeIfBodyUnread(req, res);
          const [status, body] = upstreamFailure(error);
          res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
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
    if (tooManyHeaders(req, this.config.limits)) return endWithResponse(socket, 431, `${TOO_MANY_HEADERS} (at most ${this.config.limits.maxHeaderCount})\n`);
    const policy = this.policy;
    const read = policy.reader.read(req, this.protocol);
    const unreadable = this.unreadable(policy, read);
    if (unreadable) return endWithResponse(socket, ...requestRefusal(unreadable, this.config.verifier.forwardAuthOptions));
    const view = read as RequestView;
    const unexpected = (error: Error) => {
      this.deps.logger.error({ err: error, method: view.method, path: view.path }, 'upgrade failed unexpectedly');
      socket.destroy();
    };
    if (this.excluded(policy, view)) return void this.tunnel(policy, req, socket, head, view, undefined, []).catch(unexpected);
    this.admit(policy, view)
      .then(async ({ verdict, identity }) => {
        if (!verdict.ok) return endWithResponse(socket, verdict.status, goBody(verdict.reason));
        await this.tunnel(policy, req, socket, head, view, verdict.claims, identity);
      })
      .catch(unexpected);
  }

  /** Splices an admitted upgrade (or one on an excluded path, without claims) to an upstream. */
  private async tunnel(policy: VerifierPolicy, req: IncomingMessage, socket: Duplex, head: Buffer, view: RequestView, claims: Claims | undefined, identity: [string, string][]): Promise<void> {
    const upstream = this.upstreams.pick();
    await forwardUpgrade(upstream.pool, this.outgoing(policy, req, view, upstream, claims, identity), req, socket, head).catch((error: UpstreamError) => {
      this.failed(upstream, error);
      endWithResponse(socket, ...upstreamFailure(error));
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
