// The registry as a long-lived component: unix sockets, TLS, start failures, stop, and several
// processes sharing Redis (HA).
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { RedisNonceStore } from '../../src/nonce/RedisNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { KeyRegistryServer } from '../../src/registry/KeyRegistryServer';
import { httpRequest } from '../support/httpRequest';
import { RedisServer } from '../support/redisServer';
import { getKey, keyUrl, newPublisher, registryConfig, requestToken, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';

let alice: Publisher;
let directory: string;
let clock: TestClock;

beforeAll(async () => {
  alice = await newPublisher('alice-key');
});

beforeEach(async () => {
  clock = new TestClock();
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-server-'));
});

afterEach(async () => {
  await fs.rm(directory, { recursive: true, force: true });
});

test('listens on a unix socket with the configured mode, and removes it on stop', async () => {
  const socket = path.join(directory, 'registry.sock');
  const registry = await startRegistry(registryConfig({ listenAddr: `unix:${socket}`, socketPermission: 0o660, approval: 'auto' }), clock);
  expect(registry.address().href).toBe(`unix:${socket}`);
  expect((await fs.stat(socket)).mode & 0o777).toBe(0o660);
  // Over a socket the Host header names the registry, as its URL in the publisher's config does.
  const token = await requestToken(alice, 'http://registry.local', clock.nowMs);
  const put = await httpRequest(`unix:${socket}`, {
    method: 'PUT',
    target: `/services/${SERVICE}/keys/${alice.kid}`,
    headers: { host: 'registry.local', authorization: `Bearer ${token}` },
    body: JSON.stringify(alice.jwk),
  });
  expect(put.status).toBe(200);
  await registry.stopAll();
  await expect(fs.stat(socket)).rejects.toThrow(/ENOENT/);
});

test('serves HTTPS and expects https:// request audiences', async () => {
  const keyFile = path.join(directory, 'tls.key');
  const crtFile = path.join(directory, 'tls.crt');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    crtFile,
  ]);
  const registry = await startRegistry(registryConfig({ tls: { keyFile, crtFile } }), clock);
  try {
    expect(registry.address().protocol).toBe('https:');
    const ca = await fs.readFile(crtFile);
    const put = (audience: string) =>
      requestToken(alice, audience, clock.nowMs).then((token) =>
        httpRequest(keyUrl(registry, alice.kid), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(alice.jwk), tls: { ca } }),
      );
    expect((await put(`http://${registry.address().host}`)).status).toBe(403);
    expect((await put(registry.address().origin)).status).toBe(202);
  } finally {
    await registry.stopAll();
  }
});

test('start fails when the port is taken', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  const storagePath = path.join(directory, 'keys.json');
  const server = new KeyRegistryServer(registryConfig({ listenAddr: `127.0.0.1:${port}`, storage: { type: 'file', path: storagePath } }), {
    nonceStore: new LocalNonceStore({ purgeIntervalMs: 60_000, maxEntries: 100, clock: clock.clock, logger: silentLogger }),
    clock: clock.clock,
  });
  await expect(server.start()).rejects.toThrow(/EADDRINUSE/);
  await new Promise((resolve) => blocker.close(resolve));
});

test('after stop the port is closed', async () => {
  const registry = await startRegistry(registryConfig(), clock);
  const url = registry.address().origin;
  await registry.stopAll();
  await expect(httpRequest(`${url}/services/${SERVICE}/keys`)).rejects.toThrow(/ECONNREFUSED/);
});

describe('two registries sharing Redis', () => {
  let redis: RedisServer;
  const audience = new URL('https://keys.example');

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  beforeEach(() => {
    // Redis expires the spent jtis by its own clock: the test clock must be near it.
    clock = new TestClock(Math.floor(Date.now() / 1000) * 1000);
  });

  afterAll(async () => {
    await redis.kill();
  });

  async function replica(prefix: string) {
    const nonceStore = new RedisNonceStore(
      { type: 'redis', url: redis.url, keyPrefix: `${prefix}nonce:`, db: 0, connectTimeoutMs: 1000, commandTimeoutMs: 1000, waitReplicas: 0, waitTimeoutMs: 100, acceptEvictingPolicy: false },
      silentLogger,
    );
    return startRegistry(registryConfig({ audience, storage: { type: 'redis', url: redis.url, db: 0, keyPrefix: prefix, acceptEvictingPolicy: false } }), clock, { nonceStore });
  }

  test('a key published on one, approved on the other, is served by both', async () => {
    const [a, b] = [await replica('ha1:'), await replica('ha1:')];
    try {
      const token = await requestToken(alice, audience.origin, clock.nowMs);
      const put = await httpRequest(keyUrl(a, alice.kid), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(alice.jwk) });
      expect(put.status).toBe(202);
      expect((await getKey(b, alice.kid)).status).toBe(409);
      await b.registry.approve(SERVICE, alice.kid);
      expect((await getKey(a, alice.kid)).status).toBe(200);
      expect((await getKey(b, alice.kid)).status).toBe(200);
    } finally {
      await a.stopAll();
      await b.stopAll();
    }
  });

  test('a request token spent on one is refused by the other', async () => {
    const [a, b] = [await replica('ha2:'), await replica('ha2:')];
    try {
      const token = await requestToken(alice, audience.origin, clock.nowMs);
      const put = (registry: KeyRegistryServer) => httpRequest(keyUrl(registry, alice.kid), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(alice.jwk) });
      expect((await put(a)).status).toBe(202);
      expect((await put(b)).status).toBe(403);
    } finally {
      await a.stopAll();
      await b.stopAll();
    }
  });

  test('while Redis is down, requests get 503, and are answered again once it is back', async () => {
    const registry = await replica('ha3:');
    try {
      const token = await requestToken(alice, audience.origin, clock.nowMs);
      const put = await httpRequest(keyUrl(registry, alice.kid), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(alice.jwk) });
      expect(put.status).toBe(202);
      await redis.kill();
      expect((await getKey(registry, alice.kid)).status).toBe(503);
      await redis.start();
      // The restarted test server has no persistence: the key is gone, and the registry says so.
      let status = 503;
      for (let attempt = 0; attempt < 100 && status === 503; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = (await getKey(registry, alice.kid)).status;
      }
      expect(status).toBe(404);
    } finally {
      await registry.stopAll();
    }
  });
});
