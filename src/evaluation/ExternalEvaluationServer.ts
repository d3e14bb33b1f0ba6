// The endpoint of Cloudflare Access's External Evaluation rule (Cloudflare One, *External Evaluation rules*). Access POSTs
// {"token": "<JWT it signed>"} whose claims carry the user's `identity` and a `nonce`. The
// token is verified as a verifier verifies one — the Authenticator itself: signature against
// the team's keys, iss, aud, exp (Access's example worker checks exp only) — the policy
// decides, and the answer is 200 {"token": "<JWT>"} with the claims {success, nonce, iat,
// exp}, signed by our key, whose public half GET /keys serves as a JWKS (Access's Keys URL).
// A request that is not that — not JSON, no token, an invalid token — gets a JSON error
// (400, 401, 413) and never a signed answer; an outage (the team's keys, our key) gets 503.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBoundedBody } from '../proxy/readBoundedBody';
import { claimsVerifierServices, createClaimsVerifier } from '../claims/claimsVerifierTypes';
import { parseToken, signToken, type Claims } from '../jwt/token';
import type { KeyServer } from '../keys/KeyServer';
import { NoSigningKeyError, type PrivateKeySource, type SigningKey } from '../keys/PrivateKeySource';
import { signingKeyJwk } from '../keys/signingKeyJwk';
import type { Logger } from '../observability/logger';
import type { ProxyMetrics } from '../observability/metrics';
import { Listener } from '../proxy/listener';
import type { Clock } from '../util/clock';
import { JwtproxyError } from '../util/JwtproxyError';
import { ServiceGroup, type Service } from '../util/ServiceGroup';
import { BEARER_ANSWERS, BODY_TOO_LARGE, MALFORMED_REQUEST } from '../verdicts/verdicts';
import { Authenticator } from '../verifier/Authenticator';
import { identityClaim, isJsonObject } from '../verifier/IdentityExpander';
import type { ExternalEvaluationConfig } from './externalEvaluationConfig';

/** A request token is at most MAX_REQUEST_TOKEN_LENGTH; the JSON around it adds little. */
const MAX_BODY_BYTES = 1024 * 1024;
const USAGE = 'POST {"token": "<the JWT Access signed>"}';
const NO_SIGNING_KEY = 'No signing key available';

export interface ExternalEvaluationDeps {
  /** The Access team's keys. */
  keyServer: KeyServer;
  /** Our key: it signs the answers, /keys publishes it. */
  keys: PrivateKeySource;
  clock: Clock;
  logger: Logger;
  /** Where its answers are counted; absent in the primary of a cluster, which has no registry of its own. */
  metrics?: ProxyMetrics;
}

type Result = 'allowed' | 'denied' | 'refused' | 'unavailable' | 'keys';

/** A request body that is not {"token": "<JWT>"}: answered with `answer`. */
class BodyError extends JwtproxyError {
  readonly code = 'ERR_EVALUATION_REQUEST';

  constructor(
    readonly answer: typeof MALFORMED_REQUEST | typeof BODY_TOO_LARGE,
    message: string,
  ) {
    super(message);
  }
}

export class ExternalEvaluationServer implements Service {
  private readonly listener: Listener;
  private readonly authenticator: Authenticator;
  private readonly parts: ServiceGroup;

  constructor(
    private readonly config: ExternalEvaluationConfig,
    private readonly deps: ExternalEvaluationDeps,
  ) {
    const policy = config.policy.map((verifier) => createClaimsVerifier(verifier, { clock: deps.clock }));
    this.authenticator = new Authenticator({
      rules: config.rules,
      keyServer: deps.keyServer,
      claimsVerifiers: policy,
      clock: deps.clock,
      // The request token carries the identity itself: the policy sees it as `identity` too.
      identityExpander: identityClaim,
    });
    this.listener = new Listener(config, deps.logger, (req, res) => this.handle(req, res));
    this.parts = new ServiceGroup([deps.keyServer, deps.keys, ...claimsVerifierServices(policy), this.listener]);
  }

  get url(): string {
    return this.listener.url;
  }

  async start(): Promise<void> {
    await this.parts.start();
    const { audiences, issuers } = this.config.rules.claims;
    this.deps.logger.info(
      { listen: this.config.listenAddr, address: this.url, issuers: [...(issuers ?? [])], audiences: [...(audiences ?? [])], keys: this.publishedKeys().map((key) => key.keyId) },
      'external evaluation endpoint started: POST / evaluates, GET /keys serves the keys of the answers',
    );
  }

  stop(): Promise<void> {
    return this.parts.stop();
  }

  reload(): Promise<void> {
    return this.parts.reload();
  }

  /** False while the team's keys have not been fetched. */
  ready(): boolean {
    return this.deps.keyServer.ready?.() ?? true;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path.endsWith('/keys')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.error(res, 405, 'method_not_allowed', 'GET the keys', { allow: 'GET, HEAD' });
      return this.answerKeys(req, res);
    }
    if (req.method !== 'POST') return this.error(res, 405, 'method_not_allowed', USAGE, { allow: 'POST' });
    this.evaluate(req, res, path).catch((error: Error) => {
      this.deps.logger.error({ err: error }, 'external evaluation failed unexpectedly');
      if (!res.headersSent) this.error(res, 500, 'server_error', 'internal error');
      else res.destroy();
    });
  }

  private async evaluate(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let token: string;
    try {
      token = requestToken(await readBody(req));
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      this.deps.logger.info({ reason: error.message, client: req.socket.remoteAddress }, 'external evaluation request refused');
      return this.error(res, error.answer.status, error.answer.error, error.message);
    }
    const verdict = await this.authenticator.authenticate({
      method: 'POST',
      path,
      host: req.headers.host ?? '',
      headers: { ...req.headers, authorization: `Bearer ${token}` },
      token: { present: true, token, source: { type: 'authorization' } },
    });
    if (!verdict.ok && verdict.code !== 'claims_refused') {
      this.deps.logger[verdict.level]({ reason: verdict.reason, verdict: verdict.verdict, cause: verdict.cause?.message, client: req.socket.remoteAddress }, 'external evaluation request refused');
      const { status, error } = BEARER_ANSWERS[verdict.code];
      return this.error(res, status, error, verdict.reason);
    }
    // A policy refusal comes after the signature and claims checks: the token's claims are trustworthy.
    const claims = verdict.ok ? verdict.claims : parseToken(token, { maxLength: this.config.rules.maxTokenLength })!.claims;
    let answer: string;
    try {
      answer = await this.sign(verdict.ok, claims);
    } catch (error) {
      if (!(error instanceof NoSigningKeyError)) throw error;
      this.deps.logger.warn({ err: error.message }, 'external evaluation answer not signed');
      return this.error(res, BEARER_ANSWERS.unavailable.status, BEARER_ANSWERS.unavailable.error, NO_SIGNING_KEY);
    }
    const user = isJsonObject(claims.identity) ? (claims.identity.email ?? claims.identity.common_name) : undefined;
    if (verdict.ok) this.deps.logger.debug({ user }, 'external evaluation: allowed');
    else this.deps.logger.info({ user, reason: verdict.reason }, 'external evaluation: denied');
    this.send(res, 200, { token: answer }, verdict.ok ? 'allowed' : 'denied');
  }

  /** {success, nonce, iat, exp}: the nonce copied from the request token, as Access checks it. */
  private sign(success: boolean, request: Claims): Promise<string> {
    const key = this.deps.keys.signingKey();
    const iat = Math.floor(this.deps.clock() / 1000);
    const exp = iat + Math.max(1, Math.round(this.config.tokenTtlMs / 1000));
    return signToken(key.algorithm, key.key, key.keyId, { success, nonce: request.nonce, iat, exp });
  }

  private publishedKeys(): SigningKey[] {
    return this.deps.keys.publishedKeys?.() ?? [this.deps.keys.signingKey()];
  }

  private answerKeys(req: IncomingMessage, res: ServerResponse): void {
    let keys: SigningKey[];
    try {
      keys = this.publishedKeys();
    } catch (error) {
      if (!(error instanceof NoSigningKeyError)) throw error;
      return this.error(res, BEARER_ANSWERS.unavailable.status, BEARER_ANSWERS.unavailable.error, NO_SIGNING_KEY);
    }
    const body = JSON.stringify({ keys: keys.map(signingKeyJwk) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.deps.metrics?.externalEvaluationAnswered('keys');
  }

  private error(res: ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): void {
    const result: Result = status === BEARER_ANSWERS.unavailable.status ? 'unavailable' : 'refused';
    this.send(res, status, { error, error_description: description }, result, headers);
  }

  private send(res: ServerResponse, status: number, value: unknown, result: Result, headers: Record<string, string> = {}): void {
    const body = JSON.stringify(value);
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(body);
    this.deps.metrics?.externalEvaluationAnswered(result);
  }
}

/** The body, refused past MAX_BODY_BYTES before it is all buffered. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return readBoundedBody(req, MAX_BODY_BYTES, () => new BodyError(BODY_TOO_LARGE, `the body is larger than ${MAX_BODY_BYTES} bytes`));
}

/** The token of {"token": "<JWT>"}; throws BodyError (400) for anything else. */
function requestToken(body: Buffer): string {
  let request: unknown;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BodyError(MALFORMED_REQUEST, `the body is not JSON: ${USAGE}`);
  }
  const token = isJsonObject(request) ? request.token : undefined;
  if (typeof token !== 'string' || token === '') throw new BodyError(MALFORMED_REQUEST, `the body has no "token" string: ${USAGE}`);
  return token;
}
