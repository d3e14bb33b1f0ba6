// Redis storage when Redis is not there: a clear start failure, not a hang; an outage later is
// logged as state changes, not per request.
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { closedPort } from '../support/closedPort';
import { eventually } from '../support/eventually';
import { RedisServer } from '../support/redisServer';
import { within } from '../support/within';
import { getKey, registryConfig, startRegistry, TestClock } from './registryTestKit';

test('start fails with a KeyStorageError when Redis cannot be reached', async () => {
  const storage = new RedisKeyStorage(`redis://127.0.0.1:${await closedPort()}`, 'x:', silentLogger);
  await expect(storage.start()).rejects.toThrow(KeyStorageError);
  await storage.stop();
});

test('stop without start returns at once, without connecting to Redis', async () => {
  // Something listening where Redis would be: it counts the connections the storage opens.
  const connections: net.Socket[] = [];
  const redis = net.createServer((socket) => connections.push(socket));
  await new Promise<void>((resolve) => redis.listen(0, '127.0.0.1', resolve));
  try {
    const storage = new RedisKeyStorage(`redis://127.0.0.1:${(redis.address() as net.AddressInfo).port}`, 'x:', silentLogger);
    await within(storage.stop(), 1000, 'stop without start');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections).toHaveLength(0);
  } finally {
    for (const socket of connections) socket.destroy();
    await new Promise((resolve) => redis.close(resolve));
  }
});

describe('a Redis outage under a running registry', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });

  afterAll(async () => {
    await redis.kill();
  });

  test('is logged when it starts and when it ends, with the count of refused operations, not once per request', async () => {
    const lines: { level: string; msg: string; refusedOperations?: number; downForMs?: number }[] = [];
    const logger = createLogger('debug', new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
    const clock = new TestClock();
    const registry = await startRegistry(registryConfig({ storage: { type: 'redis', url: redis.url, db: 0, keyPrefix: 'outage:', acceptEvictingPolicy: false } }), clock, { logger });
    try {
      expect((await getKey(registry, 'k')).status).toBe(404);
      const before = lines.length;
      await redis.kill();
      for (let i = 0; i < 50; i++) expect((await getKey(registry, 'k')).status).toBe(503);
      const logged = () => lines.slice(before).filter((line) => line.level !== 'debug');
      expect(logged()).toEqual([expect.objectContaining({ level: 'error', msg: 'key registry storage cannot reach Redis: answering 503 while retrying' })]);
      await redis.start();
      await eventually(() => logged().length > 1, 'the reconnection to be logged', 10_000);
      expect(logged()[1]).toMatchObject({ level: 'info', msg: 'key registry storage reconnected to Redis', refusedOperations: 50, downForMs: expect.any(Number) });
      expect((await getKey(registry, 'k')).status).toBe(404);
      expect(logged()).toHaveLength(2);
    } finally {
      await registry.stopAll();
    }
  });
});
