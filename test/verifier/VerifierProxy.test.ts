// The verifier proxy in-process, against real upstreams: forwarding, replay, failover,
// unix sockets, TLS, claims header, WebSocket upgrades and streaming.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { tempDir } from '../support/cli';
import { closedPort } from '../support/closedPort';
import { bearer, httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { signToken } from '../../src/jwt/token';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function upstream(answer?: ConstructorParameters<typeof TestUpstream>[0], socketPath?: string): Promise<[TestUpstream, string]> {
  const server = new TestUpstream(answer);
  const url = await server.listen(socketPath);
  running.push({ stop: () => server.close() });
  return [server, url];
}

async function verifier(options: { upstream: string; listen?: string; extra?: string; audience?: string }): Promise<VerifierProxy> {
  const proxy = await startVerifier(`listen_addr: ${options.listen ?? '127.0.0.1:0'}
    verifier:
      upstream: ${options.upstream}
      audience: ${options.audience ?? 'http://verifier.test/'}
      key_server: ${PRESHARED_KEY_SERVER}
${options.extra ?? ''}`);
  running.push(proxy);
  return proxy;
}

const token = () => mintToken({ audience: 'http://verifier.test' });

/** Writes `request` as is and reads until the server closes the connection. */
function rawExchange(url: string, request: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
    socket.on('data', (data) => (received += data.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

async function eventuallyTrue(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('forwarding', () => {
  test('joins the upstream path and query with the request path and query', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: `${url}/base/?fixed=1` });
    await httpRequest(`${proxy.url}/items/7?page=2`, { headers: bearer(await token()) });
    expect(server.last.url).toBe('/base/items/7?fixed=1&page=2');
  });

  test('sets X-Forwarded headers, keeps Host and drops hop-by-hop headers', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    await httpRequest(proxy.url, {
      headers: { ...bearer(await token()), host: 'api.example', 'x-forwarded-for': '10.1.1.1', connection: 'x-private, keep-alive', 'x-private': 'secret', te: 'trailers' },
    });
    // The client is no trusted proxy (trusted_proxies): its X-Forwarded-For is replaced, not appended to.
    expect(server.last.headers).toMatchObject({ host: 'api.example', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example' });
    expect(server.last.headers['x-private']).toBeUndefined();
    expect(server.last.headers.te).toBeUndefined();
  });

  test('streams request and response bodies', async () => {
    const [, url] = await upstream((_req, res, body) => res.end(body.toUpperCase()));
    const proxy = await verifier({ upstream: url });
    const body = 'x'.repeat(3 * 1024 * 1024);
    const answer = await httpRequest(proxy.url, { method: 'POST', headers: bearer(await token()), body });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(body.toUpperCase());
  });

  test('relays the upstream status and headers', async () => {
    const [, url] = await upstream((_req, res) => res.writeHead(418, { 'x-teapot': 'yes', 'set-cookie': ['a=1', 'b=2'] }).end('short and stout'));
    const proxy = await verifier({ upstream: url });
    const answer = await httpRequest(proxy.url, { headers: bearer(await token()) });
    expect(answer).toMatchObject({ status: 418, body: 'short and stout', headers: { 'x-teapot': 'yes', 'set-cookie': ['a=1', 'b=2'] } });
  });

  test('a second Authorization header with another token is refused (400): an upstream reading the last copy would see it', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    const checked = `Bearer ${await token()}`;
    const answer = await rawExchange(proxy.url, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: ${checked}\r\nauthorization: Bearer forged.unsigned.token\r\nconnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400[\s\S]*More than one token in the request/);
    expect(server.received).toHaveLength(0);
  });

  test('the same token sent twice is let through, and forwarded once', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    const checked = `Bearer ${await token()}`;
    const answer = await rawExchange(proxy.url, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: ${checked}\r\nauthorization: ${checked}\r\nconnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(server.last.rawHeaders.filter((name, index) => index % 2 === 0 && name.toLowerCase() === 'authorization')).toHaveLength(1);
  });

  test('a client that leaves early does not get its upstream marked down', async () => {
    let slow = true;
    const [first, firstUrl] = await upstream((_req, res) => (slow ? setTimeout(() => res.end('late'), 300) : res.end('ok')));
    const [second, secondUrl] = await upstream();
    const proxy = await verifier({ upstream: `[${firstUrl}, ${secondUrl}]` });
    const abandoned = http.get(proxy.url, { headers: bearer(await token()), agent: false });
    abandoned.on('error', () => undefined);
    await eventuallyTrue(() => first.received.length === 1);
    abandoned.destroy();
    await new Promise((resolve) => setTimeout(resolve, 350));
    slow = false;
    for (let i = 0; i < 4; i++) expect((await httpRequest(proxy.url, { headers: bearer(await token()) })).status).toBe(200);
    // Round robin went on through both: the first upstream was not skipped.
    expect(first.received.length).toBe(3);
    expect(second.received.length).toBe(2);
  });

  test('a client that leaves while its token is being checked is never sent upstream', async () => {
    const [server, url] = await upstream();
    // A key registry that takes its time: the client gives up before the key arrives.
    const jwk = { ...crypto.createPublicKey(fs.readFileSync(interopFile('mykey.pub'))).export({ format: 'jwk' }), kid: 'mykey' };
    const registry = http.createServer((_req, res) => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwk)), 300));
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    running.push({ stop: () => new Promise((resolve) => registry.close(() => resolve())) });
    const registryUrl = `http://127.0.0.1:${(registry.address() as net.AddressInfo).port}/`;
    const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${url}
      audience: http://verifier.test/
      key_server: {type: keyregistry, options: {registry: "${registryUrl}"}}`);
    running.push(proxy);
    const leaving = http.get(proxy.url, { headers: bearer(await token()), agent: false });
    leaving.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    leaving.destroy();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.received).toHaveLength(0);
    // The key is cached now, and the next client is served.
    expect((await httpRequest(proxy.url, { headers: bearer(await token()) })).status).toBe(200);
  });

  describe('when the key registry is down', () => {
    const jwk = { ...crypto.createPublicKey(fs.readFileSync(interopFile('mykey.pub'))).export({ format: 'jwk' }), kid: 'mykey' };

    async function registryVerifier(registryUrl: string, clock: () => number, cache = ''): Promise<VerifierProxy> {
      const [, url] = await upstream();
      const proxy = await startVerifier(
        `listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${url}
      audience: http://verifier.test/
      key_server: {type: keyregistry, options: {registry: "${registryUrl}"${cache}}}`,
        clock,
      );
      running.push(proxy);
      return proxy;
    }

    test('a token whose key was never fetched gets 503 (retry later) with the Go body', async () => {
      const proxy = await registryVerifier(`http://127.0.0.1:${await closedPort()}/`, Date.now);
      const answer = await httpRequest(proxy.url, { headers: bearer(await token()) });
      expect(answer).toMatchObject({ status: 503, body: 'jwtproxy: unable to verify request: Unexpected key server error' });
    });

    test('a registry answering 5xx gets 503 too', async () => {
      const registry = http.createServer((_req, res) => res.writeHead(500).end('database down'));
      await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
      running.push({ stop: () => new Promise((resolve) => registry.close(() => resolve())) });
      const proxy = await registryVerifier(`http://127.0.0.1:${(registry.address() as net.AddressInfo).port}/`, Date.now);
      expect((await httpRequest(proxy.url, { headers: bearer(await token()) })).status).toBe(503);
    });

    test('a key fetched before the outage keeps verifying after its cache duration, for stale_if_error', async () => {
      let up = true;
      const registry = http.createServer((_req, res) => {
        if (!up) return res.writeHead(503).end('unavailable');
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=86400' }).end(JSON.stringify(jwk));
      });
      await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
      running.push({ stop: () => new Promise((resolve) => registry.close(() => resolve())) });
      let nowMs = Date.now();
      const proxy = await registryVerifier(`http://127.0.0.1:${(registry.address() as net.AddressInfo).port}/`, () => nowMs, ', cache: {options: {duration: 1m, stale_if_error: 10m}}');
      const tokenAt = () => mintToken({ audience: 'http://verifier.test', nowMs });
      expect((await httpRequest(proxy.url, { headers: bearer(await tokenAt()) })).status).toBe(200);
      up = false;
      nowMs += 5 * 60_000;
      expect((await httpRequest(proxy.url, { headers: bearer(await tokenAt()) })).status).toBe(200);
      nowMs += 6 * 60_000;
      expect(await httpRequest(proxy.url, { headers: bearer(await tokenAt()) })).toMatchObject({ status: 503, body: 'jwtproxy: unable to verify request: Unexpected key server error' });
    });
  });

  test('answers 502 with a clear body when the upstream is down', async () => {
    const proxy = await verifier({ upstream: `http://127.0.0.1:${await closedPort()}/` });
    const answer = await httpRequest(proxy.url, { headers: bearer(await token()) });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/^jwtproxy: upstream unavailable: .*ECONNREFUSED/);
  });
});

describe('replay protection', () => {
  test('of 64 concurrent copies of one token exactly one passes', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    const copy = await token();
    const answers = await Promise.all(Array.from({ length: 64 }, () => httpRequest(proxy.url, { headers: bearer(copy) })));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.body === "jwtproxy: unable to verify request: Missing or invalid 'jti' claim")).toHaveLength(63);
    expect(server.received).toHaveLength(1);
  });

  test('a forged token does not burn the jti of the genuine one', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    const genuine = await token();
    const [header, payload, signature] = genuine.split('.');
    const forged = `${header}.${payload}.${signature.split('').reverse().join('')}`;
    expect((await httpRequest(proxy.url, { headers: bearer(forged) })).status).toBe(403);
    expect((await httpRequest(proxy.url, { headers: bearer(genuine) })).status).toBe(200);
  });
});

describe('upstream lists', () => {
  test('are used round robin', async () => {
    const [first, firstUrl] = await upstream();
    const [second, secondUrl] = await upstream();
    const proxy = await verifier({ upstream: `[${firstUrl}, ${secondUrl}]` });
    for (let i = 0; i < 6; i++) await httpRequest(proxy.url, { headers: bearer(await token()) });
    expect([first.received.length, second.received.length]).toEqual([3, 3]);
  });

  test('skip an upstream that is down and keep answering', async () => {
    const [alive, aliveUrl] = await upstream();
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;
    const proxy = await verifier({ upstream: `[${deadUrl}, ${aliveUrl}]` });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await httpRequest(proxy.url, { headers: bearer(await token()) })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(alive.received).toHaveLength(6);
  });
});

describe('unix sockets', () => {
  test('listen on a unix socket with its permission and forward to a unix upstream', async () => {
    const dir = tempDir();
    const [server, upstreamUrl] = await upstream(undefined, path.join(dir, 'app.sock'));
    const listenPath = path.join(dir, 'verifier.sock');
    const proxy = await verifier({ upstream: upstreamUrl, listen: `unix:${listenPath}`, extra: '' });
    expect(fs.statSync(listenPath).mode & 0o777).toBe(0o755);
    expect(proxy.url).toBe(`unix:${listenPath}`);
    const answer = await httpRequest('http://localhost/over/unix?x=1', { headers: bearer(await token()), socketPath: listenPath });
    expect(answer.status).toBe(200);
    expect(server.last.url).toBe('/over/unix?x=1');
  });

  test('a stale socket file is replaced, and the socket is removed on stop', async () => {
    const dir = tempDir();
    const listenPath = path.join(dir, 'stale.sock');
    const stale = net.createServer().listen(listenPath);
    await new Promise((resolve) => stale.once('listening', resolve));
    // Simulate a crash: the file stays, nobody listens.
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    const [, upstreamUrl] = await upstream();
    const proxy = await verifier({ upstream: upstreamUrl, listen: `unix:${listenPath}` });
    expect(fs.existsSync(listenPath)).toBe(true);
    await running.pop()!.stop();
    expect(running).not.toContain(proxy);
    expect(fs.existsSync(listenPath)).toBe(false);
  });
});

describe('TLS listener', () => {
  test('terminates TLS with key_file and crt_file', async () => {
    const dir = tempDir();
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/tls.key`, '-out', `${dir}/tls.crt`, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    const [server, url] = await upstream();
    const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    key_file: ${dir}/tls.key
    crt_file: ${dir}/tls.crt
    verifier:
      upstream: ${url}
      audience: https://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}`);
    running.push(proxy);
    const answer = await httpRequest(`${proxy.url}/secure`, {
      headers: bearer(await mintToken({ audience: 'https://verifier.test' })),
      tls: { ca: fs.readFileSync(`${dir}/tls.crt`) },
    });
    expect(answer.status).toBe(200);
    expect(server.last.headers['x-forwarded-proto']).toBe('https');
  });
});

describe('forward-auth mode', () => {
  async function forwardAuth(): Promise<VerifierProxy> {
    const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      forward_auth: true
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}
      claims_header: X-Jwtproxy-Claims`);
    running.push(proxy);
    return proxy;
  }

  test('a valid token gets 200 with the verified claims, and only once', async () => {
    const proxy = await forwardAuth();
    const signed = await mintToken({ audience: 'http://verifier.test', claims: { sub: 'svc-a' } });
    const allowed = await httpRequest(`${proxy.url}/any/path`, { headers: bearer(signed) });
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.headers['x-jwtproxy-claims'] as string)).toMatchObject({ sub: 'svc-a', iss: 'jwtproxy' });
    expect((await httpRequest(proxy.url, { headers: bearer(signed) })).status).toBe(403);
  });

  test('no credentials get 401 with WWW-Authenticate, bad ones 403 with the reason', async () => {
    const proxy = await forwardAuth();
    const none = await httpRequest(proxy.url);
    expect(none).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' }, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
    const expired = await mintToken({ audience: 'http://verifier.test', nowMs: Date.now() - 3_600_000 });
    expect(await httpRequest(proxy.url, { headers: bearer(expired) })).toMatchObject({ status: 403, body: "jwtproxy: unable to verify request: Missing or invalid 'exp' claim" });
  });
});

describe('jwks key server', () => {
  test('verifies ES256 tokens with the keys of a JWKS URL', async () => {
    const [, url] = await upstream();
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwks = http.createServer((_req, res) => res.end(JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'idp-1' }] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    running.push({ stop: () => new Promise((resolve) => jwks.close(() => resolve())) });
    const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${url}
      audience: http://verifier.test/
      key_server: {type: jwks, options: {url: "http://127.0.0.1:${(jwks.address() as net.AddressInfo).port}/certs", issuers: [https://idp.example]}}`);
    running.push(proxy);
    const signed = (issuer: string) =>
      signToken('ES256', ec.privateKey, 'idp-1', {
        aud: 'http://verifier.test',
        exp: Math.floor(Date.now() / 1000) + 60,
        iat: Math.floor(Date.now() / 1000),
        iss: issuer,
        jti: crypto.randomUUID(),
        nbf: Math.floor(Date.now() / 1000) - 60,
      });
    expect((await httpRequest(proxy.url, { headers: bearer(await signed('https://idp.example')) })).status).toBe(200);
    const other = await httpRequest(proxy.url, { headers: bearer(await signed('https://other.example')) });
    expect(other.body).toBe('jwtproxy: unable to verify request: Could not find any matching public key');
  });
});

describe('claims header', () => {
  test('carries the verified claims and cannot be forged by the client', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier({ upstream: url, extra: '      claims_header: X-Jwtproxy-Claims' });
    const signed = await mintToken({ audience: 'http://verifier.test', claims: { sub: 'svc-a', name: 'Zoë' } });
    await httpRequest(proxy.url, { headers: { ...bearer(signed), 'x-jwtproxy-claims': '{"sub":"admin"}' } });
    const claims = JSON.parse(server.last.headers['x-jwtproxy-claims'] as string) as Record<string, unknown>;
    expect(claims).toMatchObject({ sub: 'svc-a', name: 'Zoë', iss: 'jwtproxy' });
  });
});

describe('claims verifiers', () => {
  test('static values are required, with the Go messages', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, extra: '      claims_verifiers: [{type: static, options: {team: payments}}]' });
    const without = await httpRequest(proxy.url, { headers: bearer(await token()) });
    expect(without.body).toBe('jwtproxy: unable to verify request: Error verifying claims: Required claim not found: team');
    const wrong = await httpRequest(proxy.url, { headers: bearer(await mintToken({ audience: 'http://verifier.test', claims: { team: 'ops' } })) });
    expect(wrong.body).toBe('jwtproxy: unable to verify request: Error verifying claims: Claim did not have the required value: team');
    const right = await httpRequest(proxy.url, { headers: bearer(await mintToken({ audience: 'http://verifier.test', claims: { team: 'payments' } })) });
    expect(right.status).toBe(200);
  });
});

describe('WebSocket upgrades', () => {
  test('in absolute-URI (proxy) form are refused, as plain requests are', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    const answer = await rawExchange(proxy.url, `GET http://v/ws HTTP/1.1\r\nhost: v\r\nupgrade: websocket\r\nconnection: Upgrade\r\nauthorization: Bearer ${await token()}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 500/);
    expect(answer).toContain('This is a reverse proxy server. Does not respond to proxy requests.');
  });

  test('are verified, then both directions are spliced', async () => {
    const [server, url] = await upstream();
    server.httpServer.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      socket.on('data', (data: Buffer) => socket.write(`echo:${data.toString()}`));
    });
    const proxy = await verifier({ upstream: url });
    const port = Number(new URL(proxy.url).port);
    const exchange = (authorization: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(`GET /ws HTTP/1.1\r\nhost: verifier.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nauthorization: ${authorization}\r\n\r\n`);
        });
        let received = '';
        socket.on('data', (data) => {
          received += data.toString();
          if (received.includes('\r\n\r\n') && received.startsWith('HTTP/1.1 101') && !received.includes('echo:')) socket.write('ping');
          if (received.includes('echo:ping') || received.startsWith('HTTP/1.1 403')) socket.destroy();
        });
        socket.on('close', () => resolve(received));
      });
    const accepted = await exchange(`Bearer ${await token()}`);
    expect(accepted).toMatch(/^HTTP\/1.1 101/);
    expect(accepted).toContain('echo:ping');
    const refused = await exchange('Bearer nope');
    expect(refused).toMatch(/^HTTP\/1.1 403/);
    expect(refused).toContain('Could not parse JWT');
  });
});
