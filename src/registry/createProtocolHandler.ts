// The key registry protocol, as the Go signer and verifiers speak it; a path prefix
// before /services is accepted (a registry URL like https://host/keys/ works as with Quay):
//   GET    /services/<svc>/keys        → 200 {"keys":[jwk…]}: approved, unexpired keys (unknown service: empty)
//   GET    /services/<svc>/keys/<kid>  → 200 JWK + Cache-Control max-age; 409 awaiting approval; 403 expired; 404 unknown or revoked
//   PUT    /services/<svc>/keys/<kid>?expiration=<unix>&rotation=<s>, body: public JWK, Authorization: Bearer <JWT>
//          self-signed (header kid = kid): new key → 202 pending, or 200 when auto approval takes it (a service's first key);
//          signed by an approved key of the service: rotation → 200, the signer revoked after the grace;
//          403 signer refused; 400 malformed; 413 body too large; 429 + Retry-After: the service has
//          max_pending_keys_per_service keys awaiting approval already
//   DELETE /services/<svc>/keys/<kid>  self-signed → 204 (the key is revoked); 403 not self-signed; 404 unknown
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { audienceOrigin } from '../jwt/registeredClaims';
import { parseToken, type ParsedToken } from '../jwt/token';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { REGISTRY_STORAGE_UNAVAILABLE, REGISTRY_VERDICTS } from '../verdicts/verdicts';
import { bearerToken, pathSegments, readBody, sendJson, sendText } from './httpExchange';
import type { KeyRegistry, OfferedKey } from './KeyRegistry';
import { KeyStorageError } from './KeyStorage';
import { parsePublicJwk } from './publicJwk';
import { SERVICE_NAME } from './RegisteredKey';
import { RegistryError } from './RegistryError';
import type { RequestAuthenticator } from './RequestAuthenticator';

const MAX_KID_LENGTH = 512;

export interface ProtocolHandlerOptions {
  registry: KeyRegistry;
  authenticator: RequestAuthenticator;
  clock: Clock;
  logger: Logger;
  /** The origin request tokens must name; unset: taken from each request's Host header. */
  audience?: URL;
}

interface Target {
  service: string;
  kid?: string;
}

/** `…/services/<svc>/keys` or `…/services/<svc>/keys/<kid>`, whatever comes before. */
function targetOf(segments: string[]): Target | undefined {
  const n = segments.length;
  if (n >= 4 && segments[n - 4] === 'services' && segments[n - 2] === 'keys') return { service: segments[n - 3], kid: segments[n - 1] };
  if (n >= 3 && segments[n - 3] === 'services' && segments[n - 1] === 'keys') return { service: segments[n - 2] };
  return undefined;
}

const badRequest = (message: string): RegistryError => new RegistryError('ERR_REGISTRY_BAD_REQUEST', message);

function unixTime(query: URLSearchParams, name: string): number | null {
  const value = query.get(name);
  if (value === null) return null;
  if (!/^\d{1,12}$/.test(value)) throw badRequest(`the ${name} query parameter must be a whole number of seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function createProtocolHandler(options: ProtocolHandlerOptions): RequestListener {
  const { registry, authenticator, clock, logger } = options;

  function expectedAudience(req: IncomingMessage): string {
    if (options.audience) return audienceOrigin(options.audience);
    const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    try {
      return audienceOrigin(new URL(`${scheme}://${req.headers.host ?? ''}`));
    } catch {
      throw badRequest('the request has no valid Host header, from which the expected audience is taken');
    }
  }

  function requestToken(req: IncomingMessage): ParsedToken & { header: { kid: string } } {
    const text = bearerToken(req);
    const token = text === undefined ? undefined : parseToken(text);
    if (!token) throw badRequest('the request needs an "Authorization: Bearer <JWT>" header');
    if (typeof token.header.kid !== 'string' || token.header.kid === '') throw badRequest("the request token has no 'kid' header");
    return token as ParsedToken & { header: { kid: string } };
  }

  async function getKeys(res: ServerResponse, service: string): Promise<void> {
    if (!SERVICE_NAME.test(service)) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no service ${JSON.stringify(service)}`);
    sendJson(res, 200, { keys: await registry.servedKeys(service) });
  }

  async function getKey(res: ServerResponse, service: string, kid: string): Promise<void> {
    if (!SERVICE_NAME.test(service)) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no service ${JSON.stringify(service)}`);
    const { jwk, maxAgeSeconds } = await registry.servedKey(service, kid);
    sendJson(res, 200, jwk, { 'Cache-Control': `max-age=${maxAgeSeconds}` });
  }

  async function putKey(req: IncomingMessage, res: ServerResponse, service: string, kid: string): Promise<void> {
    if (!SERVICE_NAME.test(service)) throw badRequest(`the service name ${JSON.stringify(service)} must match ${SERVICE_NAME.source}`);
    if (kid === '' || kid.length > MAX_KID_LENGTH) throw badRequest(`the kid must have 1 to ${MAX_KID_LENGTH} characters`);
    const query = new URL(req.url ?? '/', 'http://registry').searchParams;
    const expiration = unixTime(query, 'expiration');
    const rotationSeconds = unixTime(query, 'rotation');
    if (expiration !== null && expiration * 1000 <= clock()) throw badRequest(`the expiration ${expiration} is in the past`);
    const body = await readBody(req);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw badRequest('the body is not JSON: send the public key as a JWK');
    }
    const { jwk } = parsePublicJwk(json, kid);
    const token = requestToken(req);
    const expected = { service, audience: expectedAudience(req) };
    const offer: OfferedKey = { service, kid, jwk, expiresAt: expiration === null ? null : expiration * 1000, rotationSeconds };
    if (token.header.kid === kid) {
      await authenticator.authenticate(token, jwk, expected);
      const state = await registry.publish(offer);
      sendText(res, state === 'approved' ? 200 : 202, state === 'approved' ? 'key approved' : 'key awaiting approval');
      return;
    }
    const signer = await registry.activeKey(service, token.header.kid);
    await authenticator.authenticate(token, signer.jwk, expected);
    await registry.rotate(signer.kid, offer);
    sendText(res, 200, 'key rotated');
  }

  async function deleteKey(req: IncomingMessage, res: ServerResponse, service: string, kid: string): Promise<void> {
    if (!SERVICE_NAME.test(service)) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', `no service ${JSON.stringify(service)}`);
    const token = requestToken(req);
    const key = await registry.ownedKey(service, kid);
    if (token.header.kid !== kid) throw new RegistryError('ERR_REGISTRY_SIGNER_REFUSED', 'a key can only be deleted with a token it signed itself');
    await authenticator.authenticate(token, key.jwk, { service, audience: expectedAudience(req) });
    await registry.remove(service, kid);
    res.writeHead(204).end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = targetOf(pathSegments(req));
    if (!target) throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', 'not a key registry path: use /services/<service>/keys[/<kid>]');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (target.kid === undefined) {
      if (method !== 'GET') return methodNotAllowed(res, 'GET, HEAD');
      return getKeys(res, target.service);
    }
    if (method === 'GET') return getKey(res, target.service, target.kid);
    if (method === 'PUT') return putKey(req, res, target.service, target.kid);
    if (method === 'DELETE') return deleteKey(req, res, target.service, target.kid);
    return methodNotAllowed(res, 'GET, HEAD, PUT, DELETE');
  }

  function fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof RegistryError) {
      // Refused writes matter to operators (a misconfigured or hostile publisher); refused reads are routine.
      const level = req.method === 'PUT' || req.method === 'DELETE' ? REGISTRY_VERDICTS[error.code].level : 'debug';
      logger[level]({ method: req.method, path: req.url?.split('?')[0], status: error.status, code: error.code, reason: error.message }, 'key registry request refused');
      const headers: Record<string, string> = error.status === 413 ? { Connection: 'close' } : {};
      if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
      sendText(res, error.status, error.message, headers);
    } else if (error instanceof KeyStorageError) {
      // The storage logs its outages as they start and end; a line per request would flood the log.
      logger.debug({ err: error, method: req.method, path: req.url?.split('?')[0] }, 'key registry storage failed');
      sendText(res, REGISTRY_VERDICTS.ERR_REGISTRY_UNAVAILABLE.status, REGISTRY_STORAGE_UNAVAILABLE);
    } else {
      logger.error({ err: error, method: req.method, path: req.url?.split('?')[0] }, 'key registry request failed');
      sendText(res, 500, 'internal error');
    }
  }

  return (req, res) => {
    handle(req, res).then(
      () => logger.debug({ method: req.method, path: req.url?.split('?')[0], status: res.statusCode }, 'key registry request'),
      (error: unknown) => fail(req, res, error),
    );
  };
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendText(res, REGISTRY_VERDICTS.ERR_REGISTRY_METHOD_NOT_ALLOWED.status, 'method not allowed', { Allow: allow });
}
