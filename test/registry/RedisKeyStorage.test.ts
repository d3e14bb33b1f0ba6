// Redis storage when Redis is not there: a clear start failure, not a hang.
import * as net from 'node:net';
import { silentLogger } from '../../src/observability/logger';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { closedPort } from '../support/closedPort';
import { within } from '../support/within';

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
