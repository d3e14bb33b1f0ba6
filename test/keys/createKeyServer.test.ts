import { createKeyServer } from '../../src/keys/createKeyServer';
import { KeyRegistryKeyServer } from '../../src/keys/KeyRegistryKeyServer';
import { PresharedKeyServer } from '../../src/keys/PresharedKeyServer';
import { silentLogger } from '../../src/observability/logger';
import { interopFile } from '../support/interop';

const deps = { clock: () => 0, logger: silentLogger };

test('type preshared builds a PresharedKeyServer', () => {
  const publicKeyPath = interopFile('mykey.pub');
  expect(createKeyServer({ type: 'preshared', issuer: 'jwtproxy', keyId: 'mykey', publicKeyPath }, deps)).toBeInstanceOf(PresharedKeyServer);
});

test('type keyregistry builds a KeyRegistryKeyServer', () => {
  const config = { type: 'keyregistry' as const, registry: new URL('http://registry:8080/'), cacheDurationMs: 600_000, purgeIntervalMs: 60_000, notFoundCacheMs: 5_000 };
  expect(createKeyServer(config, deps)).toBeInstanceOf(KeyRegistryKeyServer);
});
