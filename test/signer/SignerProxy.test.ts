// The signer proxy in-process, in a real chain client → signer → verifier → upstream built from YAML:
// the token it attaches (checked against the Go signer's captured tokens), the Go rows that concern
// the signer, claims from config and headers, unix sockets and WebSocket upgrades.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createLogger, type Logger } from '../../src/observability/logger';
import type { Clock } from '../../src/util/clock';
import { tempDir } from '../support/cli';
import { decodedBearer } from '../support/decodedBearer';
import { FrontDoor } from '../support/frontDoor';
import { httpRequest } from '../support/httpRequest';
import { goTokens, interopFile, verifierCases } from '../support/interop';
import { proxyRequest } from '../support/proxyRequest';
import { startProxies, type RunningProxies } from '../support/startProxies';
import { PRESHARED_KEY_SERVER } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

/** The instant the Go signer minted its captured tokens: our claims must then carry the same times. */
const GO_TOKEN = goTokens('go_signer_tokens_raw.decoded.jsonl')[0];
const GO_IAT_MS = (GO_TOKEN.payload.iat as number) * 1000;
const fixedClock: Clock = () => GO_IAT_MS;

const PRESHARED_PRIVATE_KEY = `{type: preshared, options: {key_id: mykey, private_key_path: ${interopFile('mykey.key')}}}`;

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

interface ChainOptions {
  /** Lines inside signer_proxy.signer, indented by 6 spaces. */
  signer?: string;
  /** Lines inside verifier_proxies[0].verifier, indented by 6 spaces. */
  verifier?: string;
  signerListen?: string;
  upstreamSocket?: string;
  clock?: Clock;
  logger?: Logger;
}

interface Chain {
  proxies: RunningProxies;
  upstream: TestUpstream;
  signerUrl: string;
  /** http://127.0.0.1:<port>: the verifier's front door (its audience names it), and the aud of the tokens addressed to it. */
  verifierOrigin: string;
}

async function chain(options: ChainOptions = {}): Promise<Chain> {
  const upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen(options.upstreamSocket);
  running.push({ stop: () => upstream.close() });
  const verifierDoor = await FrontDoor.open();
  running.push({ stop: () => verifierDoor.close() });
  const verifierOrigin = verifierDoor.origin();
  const proxies = await startProxies(
    `jwtproxy:
  signer_proxy:
    listen_addr: ${options.signerListen ?? '127.0.0.1:0'}
    signer:
      private_key: ${PRESHARED_PRIVATE_KEY}
${options.signer ?? ''}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}
      audience: ${verifierOrigin}/
      key_server: ${PRESHARED_KEY_SERVER}
${options.verifier ?? ''}
`,
    { clock: options.clock ?? fixedClock, logger: options.logger },
  );
  running.push(proxies);
  verifierDoor.openTo(proxies.verifiers[0].url);
  return { proxies, upstream, signerUrl: proxies.signer!.url, verifierOrigin };
}

describe('plain HTTP through the chain', () => {
  test('the token has the JOSE header of the Go signer, byte for byte', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    expect((await proxyRequest(signerUrl, `${verifierOrigin}/x`)).status).toBe(200);
    const token = decodedBearer(upstream.last.headers.authorization);
    expect(token.headerJson).toBe('{"alg":"RS256","kid":"mykey","typ":"JWT"}');
    expect(token.headerJson).toBe(JSON.stringify(GO_TOKEN.header));
  });

  test('the claims are those of the Go signer, in its order and at its times for the same instant', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    await proxyRequest(signerUrl, `${verifierOrigin}/x`);
    const { payload } = decodedBearer(upstream.last.headers.authorization);
    expect(Object.keys(payload)).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'nbf']);
    expect(Object.keys(payload)).toEqual(Object.keys(GO_TOKEN.payload));
    expect(payload).toEqual({ ...GO_TOKEN.payload, aud: verifierOrigin, jti: payload.jti });
    expect(payload.jti).toMatch(/^[A-Za-z0-9+/]{32}$/);
  });

  test('aud is the scheme and authority of the target, without its path', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    await proxyRequest(signerUrl, `${verifierOrigin}/deep/path?q=1`);
    expect(decodedBearer(upstream.last.headers.authorization).payload.aud).toBe(verifierOrigin);
  });

  test('expiration_time, max_skew and nonce_length set exp, nbf and the jti', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain({ signer: '      expiration_time: 2m\n      max_skew: 30s\n      nonce_length: 48' });
    await proxyRequest(signerUrl, `${verifierOrigin}/x`);
    const { payload } = decodedBearer(upstream.last.headers.authorization);
    const iat = GO_IAT_MS / 1000;
    expect(payload).toMatchObject({ iat, exp: iat + 120, nbf: iat - 30 });
    expect(payload.jti).toMatch(/^[A-Za-z0-9+/]{48}$/);
  });

  test('the token is RS256 over base64url without padding and verifies with mykey.pub', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    await proxyRequest(signerUrl, `${verifierOrigin}/x`);
    const token = decodedBearer(upstream.last.headers.authorization);
    expect(token.token).not.toContain('=');
    expect(token.signature).toHaveLength(Buffer.from(GO_TOKEN.token.split('.')[2], 'base64url').length);
    const publicKey = crypto.createPublicKey(fs.readFileSync(interopFile('mykey.pub')));
    expect(crypto.verify('sha256', token.signingInput, publicKey, token.signature)).toBe(true);
  });

  test('aud is the canonical origin, however the client wrote the authority', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    const { port } = new URL(verifierOrigin);
    expect((await proxyRequest(signerUrl, `HTTP://127.0.0.1:0${port}/x`)).status).toBe(200);
    expect(decodedBearer(upstream.last.headers.authorization).payload.aud).toBe(verifierOrigin);
    expect(upstream.last.headers.host).toBe(`127.0.0.1:${port}`);
  });

  test.each([['http://0x7f.1/'], ['http://2130706433/'], ['http://0177.0.0.1/'], ['http://%31%32%37.0.0.1/']])(
    'a numeric or escaped host form (%s) is refused with 400 and a body saying why, as CONNECT refuses it',
    async (target) => {
      const lines: string[] = [];
      const { signerUrl } = await chain({ logger: createLogger('info', { write: (line: string) => lines.push(line) }) });
      const answer = await httpRequest(signerUrl, { target, headers: { host: '127.0.0.1' } });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatch(new RegExp(`^jwtproxy: invalid request target "${target.replace(/[.]/g, '\\.')}": `));
      expect(lines.map((line) => JSON.parse(line).msg)).toContain('request refused');
    },
  );

  test('the Host sent on is the authority of the absolute URI, whatever Host the client wrote (RFC 9112 §3.2.2)', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    await proxyRequest(signerUrl, `${verifierOrigin}/x`, { headers: { host: 'elsewhere.example' } });
    expect(upstream.last.headers.host).toBe(new URL(verifierOrigin).host);
  });

  test('every request gets a token with a new jti', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    for (let i = 0; i < 3; i++) expect((await proxyRequest(signerUrl, `${verifierOrigin}/x`)).status).toBe(200);
    const jtis = upstream.received.map((request) => decodedBearer(request.headers.authorization).payload.jti);
    expect(new Set(jtis).size).toBe(3);
  });

  test('the method, path, query and body reach the upstream, and its answer comes back', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    const answer = await proxyRequest(signerUrl, `${verifierOrigin}/items/7?page=2`, { method: 'POST', body: 'payload' });
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
    expect(upstream.last).toMatchObject({ method: 'POST', url: '/items/7?page=2', body: 'payload' });
  });
});

describe('the captured Go rows about the signer', () => {
  const row = (name: string) => verifierCases().find((testCase) => testCase.name === name)!;

  test('signer_origin_form: an origin-form request is refused with 500 and the Go text', async () => {
    const { signerUrl } = await chain();
    const { status, body } = row('signer_origin_form');
    const answer = await httpRequest(`${signerUrl}/some/path`);
    // The TSV cannot hold it: Go's http.Error ends the body with a newline.
    expect({ status: answer.status, body: answer.body }).toEqual({ status, body: `${body}\n` });
  });

  test.each([
    ['client_auth_header_via_signer', 'Bearer client-own-token'],
    ['client_basic_auth_via_signer', `Basic ${Buffer.from('user:password').toString('base64')}`],
  ])("%s: the client's Authorization moves to X-Forwarded-Authorization, so the verifier reads our token", async (name, clientAuthorization) => {
    // Go appended its token after the client's header, and its verifier read the client's one.
    expect(row(name)).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
    const { signerUrl, verifierOrigin, upstream } = await chain();
    const answer = await proxyRequest(signerUrl, `${verifierOrigin}/x`, { headers: { authorization: clientAuthorization } });
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
    expect(upstream.last.headers['x-forwarded-authorization']).toBe(clientAuthorization);
    expect(decodedBearer(upstream.last.headers.authorization).header.kid).toBe('mykey');
  });

  test('a client cannot forge X-Forwarded-Authorization', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    await proxyRequest(signerUrl, `${verifierOrigin}/x`, { headers: { 'x-forwarded-authorization': 'Bearer forged' } });
    expect(upstream.last.headers['x-forwarded-authorization']).toBeUndefined();
  });
});

describe('static and header claims', () => {
  const signer = '      static_claims: {team: payments}\n      header_claims: {sub: X-Subject}';

  test('are claims of the token, beside the registered ones', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain({ signer, verifier: '      claims_verifiers: [{type: static, options: {team: payments, sub: svc-a}}]' });
    const answer = await proxyRequest(signerUrl, `${verifierOrigin}/x`, { headers: { 'x-subject': 'svc-a' } });
    expect(answer.status).toBe(200);
    expect(decodedBearer(upstream.last.headers.authorization).payload).toMatchObject({ iss: 'jwtproxy', aud: verifierOrigin, team: 'payments', sub: 'svc-a' });
  });

  test('the header a claim is read from is not forwarded', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain({ signer });
    await proxyRequest(signerUrl, `${verifierOrigin}/x`, { headers: { 'x-subject': 'svc-a', 'x-other': 'kept' } });
    expect(upstream.last.headers['x-subject']).toBeUndefined();
    expect(upstream.last.headers['x-other']).toBe('kept');
  });

  test('a header claim is left out when the client does not send its header', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain({ signer });
    await proxyRequest(signerUrl, `${verifierOrigin}/x`);
    const { payload } = decodedBearer(upstream.last.headers.authorization);
    expect(payload.team).toBe('payments');
    expect(payload).not.toHaveProperty('sub');
  });
});

describe('unix sockets', () => {
  test('a signer on a unix socket reaches a verifier whose upstream is a unix socket', async () => {
    const dir = tempDir();
    const signerSocket = path.join(dir, 'signer.sock');
    const { signerUrl, verifierOrigin, upstream } = await chain({ signerListen: `unix:${signerSocket}`, upstreamSocket: path.join(dir, 'app.sock') });
    expect(signerUrl).toBe(`unix:${signerSocket}`);
    expect(fs.statSync(signerSocket).isSocket()).toBe(true);
    const answer = await proxyRequest(signerUrl, `${verifierOrigin}/over/unix?x=1`);
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
    expect(upstream.last.url).toBe('/over/unix?x=1');
    expect(decodedBearer(upstream.last.headers.authorization).payload.aud).toBe(verifierOrigin);
  });
});

describe('WebSocket upgrades', () => {
  test('are signed, verified and spliced in both directions', async () => {
    const { signerUrl, verifierOrigin, upstream } = await chain();
    let upgradeAuthorization: string | undefined;
    upstream.httpServer.on('upgrade', (req, socket) => {
      upgradeAuthorization = req.headers.authorization;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      socket.on('data', (data: Buffer) => socket.write(`echo:${data.toString()}`));
    });
    const { port } = new URL(signerUrl);
    const received = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        const authority = new URL(verifierOrigin).host;
        socket.write(`GET ${verifierOrigin}/ws HTTP/1.1\r\nhost: ${authority}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (data) => {
        text += data.toString();
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n') && !text.includes('echo:')) socket.write('ping');
        if (text.includes('echo:ping') || !text.startsWith('HTTP/1.1 101')) socket.destroy();
      });
      socket.on('close', () => resolve(text));
    });
    expect(received).toMatch(/^HTTP\/1.1 101/);
    expect(received).toContain('echo:ping');
    expect(decodedBearer(upgradeAuthorization).payload.aud).toBe(verifierOrigin);
  });
});
