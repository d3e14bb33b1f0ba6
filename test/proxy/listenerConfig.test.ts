// Which listen addresses are reachable from this host only: the signer and the registry warn about the others.
import { isLoopbackListenAddr } from '../../src/proxy/listenerConfig';

describe('isLoopbackListenAddr', () => {
  test.each([['127.0.0.1:8080'], ['127.1.2.3:8080'], ['localhost:8080'], ['LOCALHOST:8080'], ['[::1]:8080'], ['unix:/run/jwtproxy.sock']])('%s is loopback', (addr) => {
    expect(isLoopbackListenAddr(addr)).toBe(true);
  });

  test.each([[':8080'], ['0.0.0.0:8080'], ['[::]:8080'], ['10.0.0.5:8080'], ['127.example.com:8080'], ['signer.internal:8080']])('%s is beyond loopback', (addr) => {
    expect(isLoopbackListenAddr(addr)).toBe(false);
  });
});
