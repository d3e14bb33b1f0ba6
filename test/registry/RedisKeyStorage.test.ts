// Redis storage when Redis is not there: a clear start failure, not a hang.
import { silentLogger } from '../../src/observability/logger';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { closedPort } from '../support/closedPort';

test('start fails with a KeyStorageError when Redis cannot be reached', async () => {
  const storage = new RedisKeyStorage(`redis://127.0.0.1:${await closedPort()}`, 'x:', silentLogger);
  await expect(storage.start()).rejects.toThrow(KeyStorageError);
  await storage.stop();
});

test('stop without start returns at once', async () => {
  const storage = new RedisKeyStorage(`redis://127.0.0.1:${await closedPort()}`, 'x:', silentLogger);
  await storage.stop();
});
