// The nonce store registry: builds the store a verifier's `nonce_storage` config names.
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { NonceStorageConfig } from '../config/types';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import { LocalNonceStore } from './LocalNonceStore';
import type { NonceStore } from './NonceStore';
import { RedisNonceStore } from './RedisNonceStore';
import { SharedNonceStore } from './SharedNonceStore';
import { VoidNonceStore } from './VoidNonceStore';

export interface NonceStoreDeps {
  clock: Clock;
  logger: Logger;
  /** The store's name, the same in the primary and the workers, e.g. "verifier_proxies[0]". */
  id: string;
  /**
   * In a cluster worker, the channel to the primary: a `local` store then lives in the primary
   * (see SharedNonceStoreHost) and this process reaches it over IPC, so all workers share it.
   */
  primary?: PrimaryChannel;
}

export function createNonceStore(config: NonceStorageConfig, deps: NonceStoreDeps): NonceStore {
  const logger = deps.logger.child({ nonceStore: deps.id, nonceStorage: config.type });
  switch (config.type) {
    case 'local':
      if (deps.primary) return new SharedNonceStore({ id: deps.id, channel: deps.primary, logger });
      return new LocalNonceStore({ purgeIntervalMs: config.purgeIntervalMs, maxEntries: config.maxEntries, clock: deps.clock, logger });
    case 'redis':
      return new RedisNonceStore(config, logger, deps.clock);
    case 'void':
      return new VoidNonceStore(logger);
  }
}
