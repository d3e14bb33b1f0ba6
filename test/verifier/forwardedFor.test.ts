// X-Forwarded-For as the verifier sends it upstream: a client's own value is kept and appended to
// only when the peer is a proxy named in trusted_proxies; from anyone else it is replaced, so a
// client connecting directly cannot claim another address.
import * as path from 'node:path';
import { tempDir } from '../support/cli';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

/** The X-Forwarded-For the upstream gets when a client on loopback sends `sent`. */
async function forwardedFor(sent: string, options: { trustedProxies?: string; listen?: string } = {}): Promise<unknown> {
  const upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  running.push({ stop: () => upstream.close() });
  const proxy = await startVerifier(`listen_addr: ${options.listen ?? '127.0.0.1:0'}
    verifier:
      upstream: ${upstreamUrl}
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}
${options.trustedProxies ? `      trusted_proxies: ${options.trustedProxies}` : ''}`);
  running.push(proxy);
  const answer = await httpRequest(proxy.url, { headers: { ...bearer(await mintToken({ audience: 'http://verifier.test' })), 'x-forwarded-for': sent } });
  expect(answer.status).toBe(200);
  return upstream.last.headers['x-forwarded-for'];
}

test('by default no peer is trusted: the client’s X-Forwarded-For is replaced by its address', async () => {
  expect(await forwardedFor('203.0.113.7')).toBe('127.0.0.1');
});

test('from a peer in trusted_proxies, X-Forwarded-For is kept and the peer appended', async () => {
  expect(await forwardedFor('203.0.113.7, 10.0.0.2', { trustedProxies: '[10.0.0.0/8, 127.0.0.1]' })).toBe('203.0.113.7, 10.0.0.2, 127.0.0.1');
});

test('a CIDR range takes in every address under it', async () => {
  expect(await forwardedFor('203.0.113.7', { trustedProxies: '[127.0.0.0/8]' })).toBe('203.0.113.7, 127.0.0.1');
});

test('from a peer outside trusted_proxies, X-Forwarded-For is replaced', async () => {
  expect(await forwardedFor('203.0.113.7', { trustedProxies: '[10.0.0.0/8, "::1"]' })).toBe('127.0.0.1');
});

test('on a unix socket, `unix` trusts the peers that connect to it', async () => {
  const listen = `unix:${path.join(tempDir(), 'verifier.sock')}`;
  expect(await forwardedFor('203.0.113.7', { listen, trustedProxies: '[unix]' })).toBe('203.0.113.7, unknown');
  expect(await forwardedFor('203.0.113.7', { listen: `unix:${path.join(tempDir(), 'other.sock')}` })).toBe('unknown');
});
