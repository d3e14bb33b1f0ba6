// Redis over TLS with a private CA, tls-auth-clients yes and an ACL user, for the nonce store and the
// key registry's storage: claims once with the right client certificate, server name and login,
// and refuses tokens (fail closed) without them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RedisConnectionConfig } from '../../src/redis/redisConnection';
import { NonceStoreUnavailableError } from '../../src/nonce/NonceStore';
import { RedisNonceStore, type RedisNonceStorageConfig } from '../../src/nonce/RedisNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { closedPort } from '../support/closedPort';
import { RedisServer } from '../support/redisServer';

// Made when the file loads: the cases below name its files.
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-ha-tls-'));
let server: RedisServer;
let tlsPort: number;
const file = (name: string): string => path.join(folder, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, a server certificate for redis.test (not for 127.0.0.1: server_name must be used), and a client certificate. */
function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=Redis Test CA');
  for (const [name, usage, san] of [
    ['server', 'serverAuth', 'DNS:redis.test'],
    ['client', 'clientAuth', 'DNS:jwtproxy'],
  ]) {
    fs.writeFileSync(file(`${name}.ext`), `extendedKeyUsage=${usage}\nsubjectAltName=${san}\n`);
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '1', '-extfile', file(`${name}.ext`));
  }
}

beforeAll(async () => {
  makeCertificates();
  tlsPort = await closedPort();
  server = await RedisServer.start([
    '--dir',
    folder,
    '--tls-port',
    String(tlsPort),
    '--tls-cert-file',
    file('server.crt'),
    '--tls-key-file',
    file('server.key'),
    '--tls-ca-cert-file',
    file('ca.crt'),
    '--tls-auth-clients',
    'yes',
    '--user',
    'verifier',
    'on',
    '>verifier-secret',
    '~jwtproxy:*',
    '&*',
    '+@all',
    '--user',
    'registry',
    'on',
    '>registry-secret',
    '~jwtproxy:registry:*',
    '+@all',
  ]);
});

afterAll(async () => {
  await server.kill();
  fs.rmSync(folder, { recursive: true, force: true });
});

const connection = (overrides: Partial<RedisConnectionConfig> = {}): RedisConnectionConfig => ({
  url: `rediss://127.0.0.1:${tlsPort}`,
  db: 0,
  username: 'verifier',
  password: 'verifier-secret',
  tls: { caFile: file('ca.crt'), certFile: file('client.crt'), keyFile: file('client.key'), serverName: 'redis.test' },
  ...overrides,
});

function nonceStore(overrides: Partial<RedisConnectionConfig> = {}): RedisNonceStore {
  const config: RedisNonceStorageConfig = {
    type: 'redis',
    ...connection(overrides),
    keyPrefix: 'jwtproxy:nonce:',
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
    waitReplicas: 0,
    waitTimeoutMs: 100,
    acceptEvictingPolicy: false,
  };
  return new RedisNonceStore(config, silentLogger);
}

test('the nonce store claims over TLS with a private CA, a client certificate, a server name and an ACL user, once', async () => {
  const [a, b] = [nonceStore(), nonceStore()];
  await Promise.all([a.start(), b.start()]);
  expect(a.connected).toBe(true);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claim('tls-once', Date.now() + 60_000)));
  expect(results.filter(Boolean)).toHaveLength(1);
  await Promise.all([a.stop(), b.stop()]);
});

test.each([
  ['no client certificate', { tls: { caFile: file('ca.crt'), serverName: 'redis.test' } }],
  ['a server name the certificate does not carry', { tls: { caFile: file('ca.crt'), certFile: file('client.crt'), keyFile: file('client.key') } }],
  ['the system CAs instead of the private one', { tls: { certFile: file('client.crt'), keyFile: file('client.key'), serverName: 'redis.test' } }],
  ['a wrong password', { password: 'wrong' }],
  ['a user whose keys are elsewhere', { username: 'registry', password: 'registry-secret' }],
] as [string, Partial<RedisConnectionConfig>][])('with %s, tokens are refused (fail closed)', async (_case, overrides) => {
  const store = nonceStore(overrides);
  await store.start();
  await expect(store.claim(`refused-${_case}`, Date.now() + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
  await store.stop();
});

test('the key registry storage uses the same TLS and ACL options', async () => {
  const storage = new RedisKeyStorage(connection({ username: 'registry', password: 'registry-secret' }), 'jwtproxy:registry:', silentLogger);
  await storage.start();
  const key = {
    service: 'svc',
    kid: 'k',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' },
    state: 'pending',
    expiresAt: null,
    rotationSeconds: null,
    createdAt: 1,
    approvedAt: null,
    revokeAt: null,
  } as const;
  expect(await storage.update('svc', 'k', () => ({ ...key, jwk: { ...key.jwk } }))).toMatchObject({ kid: 'k' });
  expect(await storage.list('svc')).toHaveLength(1);
  await storage.stop();
  const withoutCertificate = new RedisKeyStorage(connection({ tls: { caFile: file('ca.crt'), serverName: 'redis.test' } }), 'jwtproxy:registry:', silentLogger);
  await expect(withoutCertificate.start()).rejects.toBeInstanceOf(KeyStorageError);
});
