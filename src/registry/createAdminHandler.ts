// The admin API for manual approval (off by default, on its own listener, 127.0.0.1:8091):
//   GET  /keys[?service=<svc>][&state=pending|approved|revoked|expired] → 200 {"keys":[record…]}
//   POST /services/<svc>/keys/<kid>/approve → 200 record; 404 unknown; 409 revoked or expired
//   POST /services/<svc>/keys/<kid>/revoke  → 200 record (at once, no grace); 404 unknown
// Records are RegisteredKey with times in ms since the epoch. Errors: {"error": message, "code": code}.
// With admin.token set every request needs `Authorization: Bearer <token>` (else 401). Requests
// carrying an Origin header (browsers) are refused with 403, against cross-site requests.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger';
import { REGISTRY_VERDICTS } from '../verdicts/verdicts';
import { bearerToken, pathSegments, sendJson } from './httpExchange';
import type { KeyRegistry } from './KeyRegistry';
import { KeyStorageError } from './KeyStorage';
import { KEY_STATES, type KeyState } from './RegisteredKey';
import { RegistryError, type RegistryErrorCode } from './RegistryError';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export function createAdminHandler(registry: KeyRegistry, token: string | undefined, logger: Logger): RequestListener {
  // Compared as digests: equal lengths, so the comparison time says nothing about the token.
  const expected = token === undefined ? undefined : digest(token);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Browsers send Origin on cross-site requests: a web page must not approve keys through a local admin API.
    if (req.headers.origin !== undefined) {
      throw new RegistryError('ERR_REGISTRY_BROWSER_REFUSED', 'the admin API does not serve browsers (requests with an Origin header)');
    }
    if (expected) {
      const given = bearerToken(req);
      if (given === undefined || !timingSafeEqual(digest(given), expected)) {
        throw new RegistryError('ERR_REGISTRY_UNAUTHORIZED', 'the admin API needs "Authorization: Bearer <admin token>"');
      }
    }
    const segments = pathSegments(req);
    if (segments.length === 1 && segments[0] === 'keys') {
      if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
      const query = new URL(req.url ?? '/', 'http://admin').searchParams;
      const state = query.get('state') ?? undefined;
      if (state !== undefined && !KEY_STATES.includes(state as KeyState)) {
        throw new RegistryError('ERR_REGISTRY_BAD_REQUEST', `state must be one of ${KEY_STATES.join(', ')}`);
      }
      const keys = await registry.list({ service: query.get('service') ?? undefined, state: state as KeyState | undefined });
      return sendJson(res, 200, { keys });
    }
    if (segments.length === 5 && segments[0] === 'services' && segments[2] === 'keys' && (segments[4] === 'approve' || segments[4] === 'revoke')) {
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      const [, service, , kid, action] = segments;
      const key = action === 'approve' ? await registry.approve(service, kid) : await registry.revoke(service, kid);
      return sendJson(res, 200, key);
    }
    throw new RegistryError('ERR_REGISTRY_KEY_NOT_FOUND', 'not an admin path: use GET /keys, POST /services/<service>/keys/<kid>/approve or …/revoke');
  }

  return (req, res) => {
    // The body, if any, is not used; drain it so the connection can be reused.
    req.resume();
    handle(req, res).catch((error: unknown) => {
      if (error instanceof RegistryError) {
        logger.warn({ method: req.method, path: req.url?.split('?')[0], status: error.status, code: error.code, reason: error.message }, 'key registry admin request refused');
        sendJson(res, error.status, { error: error.message, code: error.code }, error.code === 'ERR_REGISTRY_UNAUTHORIZED' ? { 'WWW-Authenticate': 'Bearer' } : {});
      } else if (error instanceof KeyStorageError) {
        // Logged by the storage as its outage starts and ends.
        logger.debug({ err: error }, 'key registry storage failed');
        const code: RegistryErrorCode = 'ERR_REGISTRY_UNAVAILABLE';
        sendJson(res, REGISTRY_VERDICTS[code].status, { error: error.message, code });
      } else {
        logger.error({ err: error, method: req.method, path: req.url?.split('?')[0] }, 'key registry admin request failed');
        sendJson(res, 500, { error: 'internal error', code: 'ERR_REGISTRY_INTERNAL' });
      }
    });
  };
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  const code: RegistryErrorCode = 'ERR_REGISTRY_METHOD_NOT_ALLOWED';
  sendJson(res, REGISTRY_VERDICTS[code].status, { error: 'method not allowed', code }, { Allow: allow });
}
