import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { NonceStoreUnavailableError } from '../../src/nonce/NonceStore';
import { RedisNonceStore, type RedisNonceStorageConfig } from '../../src/nonce/RedisNonceStore';
import { createLogger, silentLogger, type Logger } from '../../src/observability/logger';
import { RedisServer } from '../support/redisServer';

function configFor(where: Partial<RedisNonceStorageConfig>, keyPrefix = 'test:nonce:'): RedisNonceStorageConfig {
  return { type: 'redis', keyPrefix, db: 0, connectTimeoutMs: 1000, commandTimeoutMs: 1000, waitReplicas: 0, waitTimeoutMs: 100, acceptEvictingPolicy: false, ...where };
}

async function started(config: RedisNonceStorageConfig, logger: Logger = silentLogger, clock: () => number = Date.now): Promise<RedisNonceStore> {
  const store = new RedisNonceStore(config, logger, clock);
  await store.start();
  return store;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function claimSucceeds(store: RedisNonceStore, jti: string): () => Promise<boolean> {
  return () => store.claim(jti, Date.now() + 60_000).catch(() => false);
}

let uniqueId = 0;
const jtiFor = (name: string): string => `${name}-${process.pid}-${++uniqueId}`;

describe('RedisNonceStore', () => {
  let server: RedisServer;
  let store: RedisNonceStore;
  let inspector: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    store = await started(configFor({ url: server.url }));
    inspector = new Redis(server.url);
  });

  afterAll(async () => {
    await store.stop();
    inspector.disconnect();
    await server.kill();
  });

  test('accepts a token id once and refuses it after', async () => {
    const jti = jtiFor('once');
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(true);
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(false);
  });

  test('of many concurrent claims of one token id exactly one succeeds', async () => {
    const jti = jtiFor('race');
    const results = await Promise.all(Array.from({ length: 1000 }, () => store.claim(jti, Date.now() + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('two stores on one Redis share one view, as two processes would', async () => {
    const other = await started(configFor({ url: server.url }));
    const jti = jtiFor('shared');
    const results = await Promise.all([store.claim(jti, Date.now() + 60_000), other.claim(jti, Date.now() + 60_000)]);
    expect(results.sort()).toEqual([false, true]);
    expect(await other.claim(jti, Date.now() + 60_000)).toBe(false);
    await other.stop();
  });

  test('records the token id under the key prefix until the token’s expiry', async () => {
    const prefixed = await started(configFor({ url: server.url }, 'tenant-a:jti:'));
    const jti = jtiFor('prefix');
    const expiresAtMs = Date.now() + 60_000;
    await prefixed.claim(jti, expiresAtMs);
    expect(await inspector.get(`tenant-a:jti:${jti}`)).toBe('1');
    expect(await inspector.call('PEXPIRETIME', `tenant-a:jti:${jti}`)).toBe(expiresAtMs);
    await prefixed.stop();
  });

  test('different key prefixes are separate replay views', async () => {
    const tenantB = await started(configFor({ url: server.url }, 'tenant-b:jti:'));
    const jti = jtiFor('tenants');
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(true);
    expect(await tenantB.claim(jti, Date.now() + 60_000)).toBe(true);
    await tenantB.stop();
  });

  test('Redis forgets a token id once its token has expired', async () => {
    const jti = jtiFor('expiry');
    await store.claim(jti, Date.now() + 200);
    await eventually(async () => (await inspector.exists(`test:nonce:${jti}`)) === 0, 'the key expires');
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(true);
  });
});

describe('RedisNonceStore when Redis fails', () => {
  let server: RedisServer;

  beforeEach(async () => {
    server = await RedisServer.start();
  });

  afterEach(async () => {
    // Every test leaves the server running: RedisServer.kill() on a killed server never returns.
    await server.kill();
  });

  test('refuses claims at once, not after the command timeout, while Redis is down', async () => {
    const store = await started({ ...configFor({ url: server.url }), commandTimeoutMs: 10_000 });
    await server.kill();
    const before = Date.now();
    await expect(store.claim(jtiFor('down'), Date.now() + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await expect(store.claim(jtiFor('down'), Date.now() + 60_000)).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE' });
    expect(Date.now() - before).toBeLessThan(1000);
    await store.stop();
    await server.start();
  });

  test('accepts claims again by itself once Redis is back on the same port', async () => {
    const store = await started(configFor({ url: server.url }));
    await server.kill();
    await expect(store.claim(jtiFor('gone'), Date.now() + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await server.start();
    await eventually(claimSucceeds(store, jtiFor('back')), 'claims succeed again');
    expect(store.connected).toBe(true);
    await store.stop();
  });

  test('starts while Redis is down, refusing claims until it comes up', async () => {
    await server.kill();
    const store = await started(configFor({ url: server.url }));
    expect(store.connected).toBe(false);
    await expect(store.claim(jtiFor('early'), Date.now() + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await server.start();
    await eventually(claimSucceeds(store, jtiFor('late')), 'claims succeed once Redis is up');
    await store.stop();
  });

  test('logs the loss and the reconnection once each, however many claims fail', async () => {
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = await started(configFor({ url: server.url }), logger);
    await server.kill();
    for (let i = 0; i < 20; i++) await store.claim(jtiFor('logged'), Date.now() + 60_000).catch(() => false);
    await server.start();
    await eventually(claimSucceeds(store, jtiFor('logged')), 'claims succeed again');
    await store.stop();
    const messages = lines.map((line) => line.msg);
    expect(messages.filter((msg) => /connected/.test(msg) && !/reconnected/.test(msg))).toHaveLength(1);
    expect(messages.filter((msg) => /lost its connection/.test(msg))).toHaveLength(1);
    expect(messages.filter((msg) => /reconnected/.test(msg))).toHaveLength(1);
  });

  test('a claim refused while Redis is down says that the store has logged the outage', async () => {
    const store = await started(configFor({ url: server.url }));
    await server.kill();
    await expect(store.claim(jtiFor('reported'), Date.now() + 60_000)).rejects.toMatchObject({ outageReported: true });
    await store.stop();
    await server.start();
  });

  test('the end of an outage is logged with how long it lasted and how many tokens it refused', async () => {
    const lines: { msg: string; refusedTokens?: number; outageMs?: number }[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    let now = 1_000_000;
    const store = await started(configFor({ url: server.url }), logger, () => now);
    await server.kill();
    await eventually(async () => !store.connected, 'the store sees the connection lost');
    for (let i = 0; i < 7; i++) await store.claim(jtiFor('counted'), Date.now() + 60_000).catch(() => false);
    now += 90_000;
    await server.start();
    await eventually(async () => store.connected, 'the store reconnects');
    await store.stop();
    expect(lines.find((line) => /reconnected/.test(line.msg))).toMatchObject({ refusedTokens: 7, outageMs: 90_000 });
  });

  test('commands failing on a live connection (Redis paused) are an outage too, logged when it begins and ends', async () => {
    const lines: { level: string; msg: string; refusedTokens?: number }[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = await started({ ...configFor({ url: server.url }), commandTimeoutMs: 100 }, logger);
    const admin = new Redis(server.url);
    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    const refusals = await Promise.all(Array.from({ length: 5 }, () => store.claim(jtiFor('paused'), Date.now() + 60_000).catch((error: Error) => error)));
    expect(refusals.every((refusal) => refusal instanceof NonceStoreUnavailableError && refusal.outageReported)).toBe(true);
    await admin.call('CLIENT', 'UNPAUSE');
    admin.disconnect();
    expect(await store.claim(jtiFor('resumed'), Date.now() + 60_000)).toBe(true);
    await store.stop();
    expect(lines.filter((line) => /commands are failing/.test(line.msg))).toHaveLength(1);
    expect(lines.find((line) => /answering again/.test(line.msg))).toMatchObject({ refusedTokens: 5 });
  });
});

describe('RedisNonceStore topologies', () => {
  const servers: RedisServer[] = [];
  let folder: string;

  beforeAll(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-nonce-redis-'));
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()));
    fs.rmSync(folder, { recursive: true, force: true });
  });

  /** Starts a redis-server with `args` first on its command line; resolves to its port. */
  async function redisServer(...args: string[]): Promise<number> {
    const server = await RedisServer.start([...args, '--dir', folder]);
    servers.push(server);
    return server.port;
  }

  test('claims through Redis Sentinel', async () => {
    const masterPort = await redisServer();
    const configFile = path.join(folder, 'sentinel.conf');
    fs.writeFileSync(configFile, `sentinel monitor nonces 127.0.0.1 ${masterPort} 1\n`);
    const sentinelPort = await redisServer(configFile, '--sentinel');
    const store = await started(configFor({ sentinels: [{ host: '127.0.0.1', port: sentinelPort }], sentinelName: 'nonces' }));
    await eventually(claimSucceeds(store, jtiFor('sentinel')), 'a claim succeeds through the sentinel');
    const jti = jtiFor('sentinel');
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(true);
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(false);
    await store.stop();
  });

  test('claims on a Redis Cluster', async () => {
    const port = await redisServer('--cluster-enabled', 'yes', '--cluster-config-file', path.join(folder, 'nodes.conf'), '--cluster-announce-ip', '127.0.0.1');
    const admin = new Redis({ port, host: '127.0.0.1' });
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await eventually(async () => /cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO'))), 'the cluster is ok');
    admin.disconnect();
    const store = await started(configFor({ clusterNodes: [{ host: '127.0.0.1', port }] }));
    const jtis = Array.from({ length: 20 }, (_, i) => jtiFor(`cluster-${i}`));
    expect(await Promise.all(jtis.map((jti) => store.claim(jti, Date.now() + 60_000)))).toEqual(jtis.map(() => true));
    expect(await Promise.all(jtis.map((jti) => store.claim(jti, Date.now() + 60_000)))).toEqual(jtis.map(() => false));
    await store.stop();
  });

  test('refuses a db other than 0 on a Redis Cluster', () => {
    expect(() => new RedisNonceStore(configFor({ clusterNodes: [{ host: '127.0.0.1', port: 1 }], db: 2 }), silentLogger)).toThrow(/db 2/);
  });
});

describe('RedisNonceStore refuses servers that must not keep nonces', () => {
  const servers: RedisServer[] = [];
  let folder: string;

  beforeAll(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-nonce-unsuitable-'));
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.kill()));
    fs.rmSync(folder, { recursive: true, force: true });
  });

  async function redisServer(...args: string[]): Promise<RedisServer> {
    const server = await RedisServer.start([...args, '--dir', folder]);
    servers.push(server);
    return server;
  }

  test('an evicting maxmemory-policy fails the start, naming the policy and the fix', async () => {
    const server = await redisServer('--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru');
    const start = started(configFor({ url: server.url }));
    await expect(start).rejects.toThrow(/maxmemory-policy volatile-lru.*noeviction.*accept_evicting_policy: true/);
  });

  test('accept_evicting_policy: true uses such a server, with a warning', async () => {
    const server = await redisServer('--maxmemory-policy', 'allkeys-lru');
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = await started({ ...configFor({ url: server.url }), acceptEvictingPolicy: true }, logger);
    expect(await store.claim(jtiFor('evicting'), Date.now() + 60_000)).toBe(true);
    await store.stop();
    expect(lines.filter((line) => line.level === 'warn' && /may evict nonces/.test(line.msg))).toHaveLength(1);
  });

  test('a policy switched to an evicting one while running refuses tokens from the next reconnection', async () => {
    const server = await redisServer();
    const store = await started(configFor({ url: server.url }));
    const admin = new Redis(server.url);
    await admin.config('SET', 'maxmemory-policy', 'volatile-ttl');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const refusal = () => store.claim(jtiFor('switched'), Date.now() + 60_000).then(String, (error: Error) => error.message);
    await eventually(async () => /volatile-ttl/.test(await refusal()), 'claims are refused, naming the policy');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await eventually(claimSucceeds(store, jtiFor('fixed')), 'claims succeed again');
    admin.disconnect();
    await store.stop();
  });

  test('a Cluster node given as url fails the start, saying to use cluster:', async () => {
    const server = await redisServer('--cluster-enabled', 'yes', '--cluster-config-file', path.join(folder, 'nodes-url.conf'));
    await expect(started(configFor({ url: server.url }))).rejects.toThrow(/Redis Cluster node.*cluster: \[host:port/);
  });
});

describe('RedisNonceStore with wait_replicas', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let folder: string;

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-nonce-wait-'));
    fs.mkdirSync(path.join(folder, 'replica'));
    // Redis delays a diskless full sync by 5 s by default, waiting for more replicas.
    master = await RedisServer.start(['--dir', folder, '--repl-diskless-sync-delay', '0']);
    replica = await RedisServer.start(['--dir', path.join(folder, 'replica'), '--replicaof', '127.0.0.1', String(master.port)]);
    const inspector = new Redis(master.url);
    await eventually(async () => /slave0:.*state=online/.test(await inspector.info('replication')), 'the replica is in sync');
    inspector.disconnect();
  });

  afterAll(async () => {
    await replica.kill();
    await master.kill();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  // A replica on a loaded machine may take a while to acknowledge: the bound is generous, the outcome is what is tested.
  const waiting = (replicas: number, url = master.url): RedisNonceStorageConfig => ({ ...configFor({ url }), waitReplicas: replicas, waitTimeoutMs: 1000, commandTimeoutMs: 3000 });

  test('a claim acknowledged by the replica is accepted once, and is on the replica when it resolves', async () => {
    const store = await started(waiting(1));
    const onReplica = new Redis(replica.url);
    const jti = jtiFor('acked');
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(true);
    expect(await onReplica.exists(`test:nonce:${jti}`)).toBe(1);
    expect(await store.claim(jti, Date.now() + 60_000)).toBe(false);
    onReplica.disconnect();
    await store.stop();
  });

  test('of many concurrent acknowledged claims of one token id exactly one succeeds', async () => {
    const [a, b] = [await started(waiting(1)), await started(waiting(1))];
    const jti = jtiFor('acked-race');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).claim(jti, Date.now() + 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('claims of one tick share one WAIT: one round trip whatever their number', async () => {
    const store = await started(waiting(1));
    const inspector = new Redis(master.url);
    const before = /cmdstat_wait:calls=(\d+)/.exec(await inspector.info('commandstats'))?.[1] ?? '0';
    const results = await Promise.all(Array.from({ length: 50 }, () => store.claim(jtiFor('batched'), Date.now() + 60_000)));
    const after = /cmdstat_wait:calls=(\d+)/.exec(await inspector.info('commandstats'))?.[1];
    expect(results.every(Boolean)).toBe(true);
    expect(Number(after) - Number(before)).toBe(1);
    inspector.disconnect();
    await store.stop();
  });

  test('a claim not acknowledged in time is refused (fail closed), logged once, and taken back so a retry can pass', async () => {
    const lines: { level: string; msg: string; refusedTokens?: number }[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = await started(waiting(2), logger);
    const inspector = new Redis(master.url);
    const jti = jtiFor('unacked');
    await expect(store.claim(jti, Date.now() + 60_000)).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE', message: expect.stringMatching(/1 of 2 replicas/) });
    await expect(store.claim(jtiFor('unacked'), Date.now() + 60_000)).rejects.toBeInstanceOf(NonceStoreUnavailableError);
    await eventually(async () => (await inspector.exists(`test:nonce:${jti}`)) === 0, 'the unacknowledged claim is taken back');
    expect(lines.filter((line) => /not acknowledging/.test(line.msg))).toHaveLength(1);
    inspector.disconnect();
    await store.stop();
  });
});
