// Through a running verifier: request paths that try to climb out of the upstream's base path
// reach the upstream normalised, under that base path.
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';

let upstream: TestUpstream;
let proxy: VerifierProxy;

beforeAll(async () => {
  upstream = new TestUpstream();
  const url = await upstream.listen();
  proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${url}/app/
      audience: http://verifier.test/
      key_server: ${PRESHARED_KEY_SERVER}`);
});

afterAll(async () => {
  await proxy.stop();
  await upstream.close();
});

test.each([
  ['/../admin', '/app/admin'],
  ['/%2e%2e/admin', '/app/admin'],
  ['/app/%2E%2E/%2e%2e/admin', '/app/admin'],
  ['//x', '/app/x'],
  ['/.%2e/', '/app/'],
  ['/..;/admin', '/app/admin'],
  ['/..%2Fadmin?q=../x', '/app/..%252Fadmin?q=../x'],
])('%s reaches the upstream as %s', async (target, received) => {
  const answer = await httpRequest(proxy.url, { target, headers: bearer(await mintToken({ audience: 'http://verifier.test' })) });
  expect(answer.status).toBe(200);
  expect(upstream.last.url).toBe(received);
});
