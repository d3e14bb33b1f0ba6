// The key storage the key_registry config names; its module loads only when named (Redis for one).
import type { Logger } from '../observability/logger';
import type { KeyStorage } from './KeyStorage';
import type { KeyRegistryConfig } from './registryConfig';

export function createKeyStorage(config: KeyRegistryConfig['storage'], logger: Logger): KeyStorage {
  switch (config.type) {
    case 'memory': {
      const { MemoryKeyStorage } = require('./MemoryKeyStorage') as typeof import('./MemoryKeyStorage');
      return new MemoryKeyStorage();
    }
    case 'file': {
      const { FileKeyStorage } = require('./FileKeyStorage') as typeof import('./FileKeyStorage');
      return new FileKeyStorage(config.path, logger);
    }
    case 'redis': {
      const { RedisKeyStorage } = require('./RedisKeyStorage') as typeof import('./RedisKeyStorage');
      return new RedisKeyStorage(config, config.keyPrefix, logger);
    }
  }
}
