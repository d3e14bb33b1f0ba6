
import type { Logger } from '../observability/logger';
import { FileKeyStorage } from './FileKeyStorage';
import type { KeyStorage } from './KeyStorage';
import { MemoryKeyStorage } from './MemoryKeyStorage';
import { RedisKeyStorage } from './RedisKeyStorage';
import type { KeyRegistryConfig } from './registryConfig';

export function createKeyStorage(config: KeyRegistryConfig['storage'], logger: Logger): KeyStorage {
  switch (config.type) {
    case 'memory':
      return new MemoryKeyStorage();
    case 'file':
      return new FileKeyStorage(config.path, logger);
    case 'redis':
      return new RedisKeyStorage(config, config.keyPrefix, logger);
  }
}
