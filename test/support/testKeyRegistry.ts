// A small but real key registry for tests (SPEC A5 protocol, in memory, node:http): it checks request
// JWTs and signatures like a real registry, approves by hand or automatically, and records every request.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { algorithmOf, verifySignature } from '../../src/jwt/algorithms';
import { parseToken, type Claims, type JoseHeader } from '../../src/jwt/token';
import type { Clock } from '../../src/util/clock';

export type RegisteredKeyState = 'pending' | 'approved' | 'expired';

export interface RegisteredKey {
  jwk: Record<string, string>;
  key: KeyObject;
  state: RegisteredKeyState;
  /** Unix seconds, from the PUT's `expiration`. */
  expiration?: number;
  rotation?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  token?: { header: JoseHeader; claims: Claims };
  /** What the registry answered. */
  status: number;
}

export interface TestKeyRegistryOptions {
  approval?: 'manual' | 'auto';
  clock?: Clock;
}

const KEY_PATH = /^\/services\/([^/]+)\/keys(?:\/([^/]+))?$/;

function publicKeyOf(jwk: Record<string, string>): KeyObject {
  const members: JsonWebKey = { kty: jwk.kty };
  for (const name of ['n', 'e', 'crv', 'x', 'y']) if (jwk[name] !== undefined) members[name] = jwk[name].replace(/=+$/, '');
  return createPublicKey({ key: members, format: 'jwk' });
}

export class TestKeyRegistry {
  readonly requests: RecordedRequest[] = [];
  /** service → kid → key */
  readonly services = new Map<string, Map<string, RegisteredKey>>();
  private server?: http.Server;
  private forcedStatus?: number;
  private port = 0;
  private readonly approval: 'manual' | 'auto';
  private readonly clock: Clock;

  private constructor(options: TestKeyRegistryOptions) {
    this.approval = options.approval ?? 'manual';
    this.clock = options.clock ?? Date.now;
  }

  static async start(options: TestKeyRegistryOptions = {}): Promise<TestKeyRegistry> {
    const registry = new TestKeyRegistry(options);
    await registry.listen();
    return registry;
  }

  /** The registry's base URL, e.g. http://127.0.0.1:41234/ */
  get url(): URL {
    return new URL(`http://127.0.0.1:${this.port}/`);
  }

  /** Listens again on the same port after stop(), keeping the keys: the registry was down for a while. */
  async listen(): Promise<void> {
    const server = http.createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  keys(service: string): Map<string, RegisteredKey> {
    let keys = this.services.get(service);
    if (!keys) this.services.set(service, (keys = new Map()));
    return keys;
  }

  /** Registers a key directly, as if published earlier. */
  add(service: string, jwk: Record<string, string>, state: RegisteredKeyState): void {
    this.keys(service).set(jwk.kid, { jwk, key: publicKeyOf(jwk), state });
  }

  approve(service: string, kid: string): void {
    const key = this.keys(service).get(kid);
    if (!key) throw new Error(`no key ${kid} for ${service}`);
    key.state = 'approved';
  }

  /** Answers every request with this status (a registry failing behind its proxy); undefined: serve again. */
  answerEverything(status: number | undefined): void {
    this.forcedStatus = status;
  }

  stateOf(service: string, kid: string): RegisteredKeyState | undefined {
    return this.keys(service).get(kid)?.state;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const record: RecordedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status: 0,
      };
      const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
      const token = bearer ? parseToken(bearer[1]) : undefined;
      if (token) record.token = { header: token.header, claims: token.claims };
      this.requests.push(record);
      const answer = (status: number, body = '', headers: http.OutgoingHttpHeaders = {}) => {
        record.status = status;
        response.writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain', ...headers });
        response.end(body);
      };
      if (this.forcedStatus !== undefined) return answer(this.forcedStatus, 'forced failure');
      try {
        this.route(request, record, token, answer);
      } catch (error) {
        answer(500, (error as Error).message);
      }
    });
  }

  private route(
    request: http.IncomingMessage,
    record: RecordedRequest,
    token: ReturnType<typeof parseToken>,
    answer: (status: number, body?: string, headers?: http.OutgoingHttpHeaders) => void,
  ): void {
    const url = new URL(record.url, this.url);
    const match = KEY_PATH.exec(url.pathname);
    if (!match) return answer(404, 'no such route');
    const service = decodeURIComponent(match[1]);
    const kid = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const keys = this.keys(service);
    const nowSeconds = Math.floor(this.clock() / 1000);
    const stateNow = (key: RegisteredKey): RegisteredKeyState => (key.expiration !== undefined && key.expiration <= nowSeconds ? 'expired' : key.state);

    if (request.method === 'GET' && kid === undefined) {
      const approved = [...keys.values()].filter((key) => stateNow(key) === 'approved').map((key) => key.jwk);
      return answer(200, JSON.stringify({ keys: approved }));
    }
    if (kid === undefined) return answer(405, 'method not allowed');
    const existing = keys.get(kid);

    if (request.method === 'GET') {
      if (!existing) return answer(404, 'unknown key');
      const state = stateNow(existing);
      if (state === 'expired') return answer(403, 'key expired');
      if (state === 'pending') return answer(409, 'key awaiting approval');
      const maxAge = existing.expiration === undefined ? 86_400 : Math.min(86_400, existing.expiration - nowSeconds);
      return answer(200, JSON.stringify(existing.jwk), { 'cache-control': `max-age=${maxAge}` });
    }

    // PUT and DELETE must carry a valid JWT for this registry and service.
    const claims = token?.claims;
    const origin = `${this.url.protocol}//${this.url.host}`;
    if (!token || !claims) return answer(400, 'missing or unparsable JWT');
    if (claims.iss !== service || claims.aud !== origin) return answer(400, 'bad iss or aud');
    const times = [claims.exp, claims.nbf, claims.iat];
    if (!times.every((time) => typeof time === 'number')) return answer(400, 'exp, nbf and iat are required');
    if ((claims.exp as number) < nowSeconds || (claims.nbf as number) > nowSeconds) return answer(400, 'JWT not valid now');
    const signedBy = typeof token.header.kid === 'string' ? token.header.kid : '';
    const signatureBy = (key: KeyObject) => token.header.alg === algorithmOf(key) && verifySignature(algorithmOf(key), key, token.signingInput, token.signature);

    if (request.method === 'DELETE') {
      if (!existing) return answer(404, 'unknown key');
      if (signedBy !== kid || !signatureBy(existing.key)) return answer(403, 'a key must be deleted by itself');
      keys.delete(kid);
      return answer(204);
    }

    if (request.method === 'PUT') {
      let jwk: Record<string, string>;
      try {
        jwk = JSON.parse(record.body) as Record<string, string>;
      } catch {
        return answer(400, 'body is not JSON');
      }
      if (jwk.kid !== kid) return answer(400, 'body kid differs from the path');
      const key: RegisteredKey = {
        jwk,
        key: publicKeyOf(jwk),
        state: 'pending',
        expiration: url.searchParams.has('expiration') ? Number(url.searchParams.get('expiration')) : undefined,
        rotation: url.searchParams.has('rotation') ? Number(url.searchParams.get('rotation')) : undefined,
      };
      if (signedBy === kid) {
        if (!signatureBy(key.key)) return answer(403, 'bad self-signature');
        key.state = this.approval === 'auto' ? 'approved' : 'pending';
        keys.set(kid, key);
        return answer(key.state === 'approved' ? 200 : 202);
      }
      const signer = keys.get(signedBy);
      if (!signer || stateNow(signer) !== 'approved' || !signatureBy(signer.key)) return answer(403, 'the signer is not an approved key');
      key.state = 'approved';
      keys.set(kid, key);
      keys.delete(signedBy); // a rotation revokes the key that signed it
      return answer(200);
    }
    return answer(405, 'method not allowed');
  }
}
