// createKeyServer builds the key server a verifier's key_server config names: each built server is
// checked by the key it serves, the keyregistry one by the registry it asks.
import { createPublicKey } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeyServer } from '../../src/keys/keyServerTypes';
import { KeyRegistryKeyServer } from '../../src/keys/KeyRegistryKeyServer';
import { PresharedKeyServer } from '../../src/keys/PresharedKeyServer';
import { silentLogger } from '../../src/observability/logger';
import { interopFile, readInterop } from '../support/interop';

const deps = { clock: () => 0, logger: silentLogger };
const mykey = createPublicKey(readInterop('mykey.pub'));

test('type preshared builds a PresharedKeyServer serving the key of its file', async () => {
  const publicKeyPath = interopFile('mykey.pub');
  const server = createKeyServer({ type: 'preshared', issuer: 'jwtproxy', keyId: 'mykey', publicKeyPath }, deps);
  expect(server).toBeInstanceOf(PresharedKeyServer);
  await server.start();
  try {
    const { key, algorithm } = await server.getPublicKey('jwtproxy', 'mykey');
    expect(algorithm).toBe('RS256');
    expect(key.equals(mykey)).toBe(true);
  } finally {
    await server.stop();
  }
});

test('type keyregistry builds a KeyRegistryKeyServer asking the configured registry', async () => {
  const asked: string[] = [];
  const jwk = JSON.stringify({ kid: 'mykey', ...mykey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' });
  const registry = http.createServer((request, response) => {
    asked.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(jwk);
  });
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  const registryUrl = new URL(`http://127.0.0.1:${(registry.address() as AddressInfo).port}/keys/`);
  const config = { type: 'keyregistry' as const, registry: registryUrl, cacheDurationMs: 600_000, purgeIntervalMs: 60_000, notFoundCacheMs: 5_000, staleIfErrorMs: 3_600_000 };
  const server = createKeyServer(config, deps);
  try {
    expect(server).toBeInstanceOf(KeyRegistryKeyServer);
    await server.start();
    const { key, algorithm } = await server.getPublicKey('jwtproxy', 'mykey');
    expect(algorithm).toBe('RS256');
    expect(key.equals(mykey)).toBe(true);
    expect(asked).toEqual(['/keys/services/jwtproxy/keys/mykey']);
  } finally {
    await server.stop();
    registry.closeAllConnections();
    await new Promise((resolve) => registry.close(resolve));
  }
});
