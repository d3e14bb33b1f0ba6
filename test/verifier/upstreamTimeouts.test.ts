// The verifier proxy in front of upstreams that hang: it waits upstream_connect_timeout for a
// connection and upstream_response_timeout for an answer, then answers 504.
import * as net from 'node:net';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';
import { within } from '../support/within';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

/** An upstream that reads each request and never answers it. */
async function hangingUpstream(): Promise<[TestUpstream, string]> {
  const server = new TestUpstream(() => undefined);
  const url = await server.listen();
  running.push({ stop: () => server.close() });
  return [server, url];
}

/** A TCP port that accepts connections and never says a word: a TLS handshake with it never ends. */
async function silentPort(): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running.push({
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  });
  return (server.address() as net.AddressInfo).port;
}

async function verifier(upstream: string, timeouts: string): Promise<VerifierProxy> {
  const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstream}
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}
${timeouts}`);
  running.push(proxy);
  return proxy;
}

const signedRequest = async (proxy: VerifierProxy) => within(httpRequest(proxy.url, { headers: bearer(await mintToken({ audience: 'http://verifier.test' })) }), 10_000, 'the answer');

test('an upstream that does not answer within upstream_response_timeout gets the client a 504', async () => {
  const [, url] = await hangingUpstream();
  const proxy = await verifier(url, '      upstream_response_timeout: 200ms');
  expect(await signedRequest(proxy)).toMatchObject({ status: 504, body: 'jwtproxy: upstream timed out' });
});

test('a request that timed out waiting for its answer is not sent to another upstream', async () => {
  const [first, firstUrl] = await hangingUpstream();
  const [second, secondUrl] = await hangingUpstream();
  const proxy = await verifier(`[${firstUrl}, ${secondUrl}]`, '      upstream_response_timeout: 200ms');
  expect((await signedRequest(proxy)).status).toBe(504);
  expect(first.received.length + second.received.length).toBe(1);
});

test('an upstream that does not connect within upstream_connect_timeout gets the client a 504', async () => {
  const proxy = await verifier(`https://127.0.0.1:${await silentPort()}/`, '      upstream_connect_timeout: 200ms');
  expect(await signedRequest(proxy)).toMatchObject({ status: 504, body: 'jwtproxy: upstream timed out' });
});

test('after a connect timeout the next upstream is tried', async () => {
  const healthy = new TestUpstream();
  const healthyUrl = await healthy.listen();
  running.push({ stop: () => healthy.close() });
  const proxy = await verifier(`[https://127.0.0.1:${await silentPort()}/, ${healthyUrl}]`, '      upstream_connect_timeout: 200ms');
  expect(await signedRequest(proxy)).toMatchObject({ status: 200, body: 'ok' });
});
