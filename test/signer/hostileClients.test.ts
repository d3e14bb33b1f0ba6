// The signer proxy against clients that try to displace its token or to hold its connections:
// its own headers go first, header fields beyond the limit are refused, and a refusal whose
// body has not been read ends the connection.
import * as net from 'node:net';
import { exchangeOn } from '../support/exchangeOn';
import { interopFile } from '../support/interop';
import { startProxies } from '../support/startProxies';
import { keepFirstHeaderFields, TestUpstream } from '../support/testUpstream';
import { within } from '../support/within';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function signer(listener = ''): Promise<string> {
  const proxies = await startProxies(`jwtproxy:
  signer_proxy:
    listen_addr: 127.0.0.1:0
${listener}
    signer:
      private_key: {type: preshared, options: {key_id: mykey, private_key_path: ${interopFile('mykey.key')}}}
`);
  running.push(proxies);
  return proxies.signer!.url;
}

async function upstream(maxHeadersCount?: number): Promise<[TestUpstream, string]> {
  const server = new TestUpstream();
  if (maxHeadersCount !== undefined) keepFirstHeaderFields(server.httpServer, maxHeadersCount);
  const url = await server.listen();
  running.push({ stop: () => server.close() });
  return [server, url];
}

function connect(url: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
    running.push({ stop: async () => void socket.destroy() });
  });
}

const fillers = (count: number): string => Array.from({ length: count }, (_, i) => `x-filler-${i}: ${i}\r\n`).join('');

test('the token reaches an upstream that keeps only its first header fields', async () => {
  const [server, url] = await upstream(8);
  const socket = await connect(await signer());
  const answer = await exchangeOn(socket, `GET ${url}/x HTTP/1.1\r\nhost: ${new URL(url).host}\r\n${fillers(60)}authorization: Basic Y2xpZW50\r\n\r\n`);
  expect(answer).toMatch(/^HTTP\/1.1 200/);
  expect(server.last.headers.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  expect(server.last.headers['x-forwarded-authorization']).toBe('Basic Y2xpZW50');
});

test('a request with more header fields than max_header_count is answered 431 and not forwarded', async () => {
  const [server, url] = await upstream();
  const socket = await connect(await signer('    max_header_count: 10'));
  const answer = await exchangeOn(socket, `GET ${url}/x HTTP/1.1\r\nhost: ${new URL(url).host}\r\n${fillers(10)}\r\n`);
  expect(answer).toMatch(/^HTTP\/1.1 431 /);
  expect(server.received).toHaveLength(0);
});

test('a refused request whose body has not arrived closes its connection', async () => {
  const socket = await connect(await signer());
  const closed = new Promise<string>((resolve) => {
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    socket.once('close', () => resolve(received));
  });
  // Origin form: the signer only forwards absolute URIs.
  socket.write('POST /upload HTTP/1.1\r\nhost: v\r\ncontent-length: 100000000\r\n\r\nfirst bytes');
  const received = await within(closed, 5000, 'the signer closes the connection');
  expect(received).toMatch(/^HTTP\/1.1 500 /);
  expect(received.toLowerCase()).toContain('\r\nconnection: close\r\n');
});
