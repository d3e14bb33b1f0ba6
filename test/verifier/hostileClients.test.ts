// The verifier proxy against clients that try to exhaust it or to displace its headers: header
// count and size limits, refused requests that never get to hold their connection, 100-continue
// only after the token is checked, and the listener's request, head and idle timeouts.
import type * as http from 'node:http';
import * as net from 'node:net';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { exchangeOn } from '../support/exchangeOn';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { keepFirstHeaderFields, TestUpstream } from '../support/testUpstream';
import { within } from '../support/within';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function upstream(configure?: (server: http.Server) => void): Promise<[TestUpstream, string]> {
  const server = new TestUpstream();
  configure?.(server.httpServer);
  const url = await server.listen();
  running.push({ stop: () => server.close() });
  return [server, url];
}

/** `listener` lines go in the verifier_proxies entry (4 spaces), `verifier` lines in its verifier (6 spaces). */
async function verifier(upstreamUrl: string, options: { listener?: string; verifier?: string } = {}): Promise<VerifierProxy> {
  const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
${options.listener ?? ''}
    verifier:
      upstream: ${upstreamUrl}
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}
${options.verifier ?? ''}`);
  running.push(proxy);
  return proxy;
}

const token = () => mintToken({ audience: 'http://verifier.test' });

function connect(url: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
    running.push({ stop: async () => void socket.destroy() });
  });
}

/** Everything the server sends until it closes the connection. */
function untilClosed(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(received));
  });
}

/** `count` header lines `x-filler-<i>: <i>`. */
const fillers = (count: number): string => Array.from({ length: count }, (_, i) => `x-filler-${i}: ${i}\r\n`).join('');

describe('header limits', () => {
  test('a request with more header fields than max_header_count is answered 431 and not forwarded', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url, { listener: '    max_header_count: 20' });
    const socket = await connect(proxy.url);
    // host, authorization, connection and 18 fillers: 21 fields.
    const answer = await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\nconnection: close\r\n${fillers(18)}\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 431 Request Header Fields Too Large\r\n/);
    expect(answer).toContain('jwtproxy: too many request header fields (at most 20)');
    expect(server.received).toHaveLength(0);
  });

  test('a request with max_header_count header fields is forwarded', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url, { listener: '    max_header_count: 20' });
    const socket = await connect(proxy.url);
    const answer = await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\nconnection: close\r\n${fillers(17)}\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(server.received).toHaveLength(1);
  });

  test('by default a thousand header fields are too many', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url);
    const socket = await connect(proxy.url);
    const answer = await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\n${fillers(1000)}\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 431 /);
    expect(server.received).toHaveLength(0);
  });

  test('a request head larger than max_header_bytes is answered 431', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url, { listener: '    max_header_bytes: 8KiB' });
    const socket = await connect(proxy.url);
    const answer = await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\nx-large: ${'a'.repeat(9 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 431 Request Header Fields Too Large\r\n/);
    expect(server.received).toHaveLength(0);
  });

  test("the proxy's own headers reach an upstream that keeps only its first header fields", async () => {
    // Node.js 20 kept the first maxHeadersCount fields (2000 by default) and dropped the rest without a word.
    const [server, url] = await upstream((httpServer) => keepFirstHeaderFields(httpServer, 12));
    const proxy = await verifier(url, { verifier: '      claims_header: X-Jwtproxy-Claims' });
    const signed = await token();
    const socket = await connect(proxy.url);
    const answer = await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: api.example\r\n${fillers(60)}authorization: Bearer ${signed}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(server.last.headers).toMatchObject({
      host: 'api.example',
      authorization: `Bearer ${signed}`,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'api.example',
    });
    expect(JSON.parse(server.last.headers['x-jwtproxy-claims'] as string)).toMatchObject({ aud: 'http://verifier.test', iss: 'jwtproxy' });
  });
});

describe('refused requests', () => {
  test('a refused request whose body has not arrived closes its connection instead of reading the body', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url);
    const socket = await connect(proxy.url);
    const closed = untilClosed(socket);
    socket.write('POST /upload HTTP/1.1\r\nhost: v\r\ncontent-length: 100000000\r\n\r\nfirst bytes');
    // The client trickles its body, as a connection hoarder does.
    const trickle = setInterval(() => socket.writable && socket.write('x'), 20);
    try {
      const received = await within(closed, 5000, 'the proxy closes the connection');
      expect(received).toMatch(/^HTTP\/1.1 403 Forbidden\r\n/);
      expect(received.toLowerCase()).toContain('\r\nconnection: close\r\n');
      expect(received).toContain('jwtproxy: unable to verify request: Could not parse JWT');
    } finally {
      clearInterval(trickle);
    }
    expect(server.received).toHaveLength(0);
  });

  test('a refused request without a body keeps its connection for the next request', async () => {
    const [, url] = await upstream();
    const proxy = await verifier(url);
    const socket = await connect(proxy.url);
    expect(await exchangeOn(socket, 'GET / HTTP/1.1\r\nhost: v\r\n\r\n')).toMatch(/^HTTP\/1.1 403/);
    expect(await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\n\r\n`)).toMatch(/^HTTP\/1.1 200/);
  });
});

describe('Expect: 100-continue', () => {
  test('a request without a valid token is refused at once, without 100 Continue, and its body is never asked for', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url);
    const socket = await connect(proxy.url);
    const received = await within(exchangeOn(socket, 'POST / HTTP/1.1\r\nhost: v\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n'), 5000, 'the refusal');
    expect(received).toMatch(/^HTTP\/1.1 403 Forbidden\r\n/);
    expect(received).not.toContain('100 Continue');
    expect(server.received).toHaveLength(0);
  });

  test('a request with a valid token gets 100 Continue, then its body is forwarded', async () => {
    const [server, url] = await upstream();
    const proxy = await verifier(url);
    const socket = await connect(proxy.url);
    const interim = await exchangeOn(socket, `POST / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n`);
    expect(interim).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    expect(await exchangeOn(socket, 'hello')).toMatch(/^HTTP\/1.1 200/);
    expect(server.last.body).toBe('hello');
  });
});

describe('listener timeouts', () => {
  test('a client that does not finish its request head within headers_timeout gets 408 and is disconnected', async () => {
    const [, url] = await upstream();
    const proxy = await verifier(url, { listener: '    headers_timeout: 200ms' });
    const socket = await connect(proxy.url);
    const closed = untilClosed(socket);
    socket.write('GET / HTTP/1.1\r\nhost: v\r\n');
    expect(await within(closed, 5000, 'the proxy closes the connection')).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
  });

  test('a client that does not finish its body within request_timeout gets 408 and is disconnected', async () => {
    const [, url] = await upstream();
    const proxy = await verifier(url, { listener: '    request_timeout: 300ms' });
    const socket = await connect(proxy.url);
    const closed = untilClosed(socket);
    socket.write(`POST / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\ncontent-length: 1000\r\n\r\nsome of it`);
    expect(await within(closed, 5000, 'the proxy closes the connection')).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
  });

  test('an idle keep-alive connection is closed after keep_alive_timeout', async () => {
    const [, url] = await upstream();
    const proxy = await verifier(url, { listener: '    keep_alive_timeout: 200ms' });
    const socket = await connect(proxy.url);
    const closed = untilClosed(socket);
    expect(await exchangeOn(socket, `GET / HTTP/1.1\r\nhost: v\r\nauthorization: Bearer ${await token()}\r\n\r\n`)).toMatch(/^HTTP\/1.1 200/);
    await within(closed, 5000, 'the proxy closes the idle connection');
  });
});
