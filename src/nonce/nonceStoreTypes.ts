// The registry of nonce store types: for each `nonce_storage.type`, how its options are read
// and how the store is built. The config parser and createNonceStore both read this table.
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { ConfigNode } from '../config/ConfigNode';
import { parseRedisConnection } from '../config/redisConnection';
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

type ConfigOf<T extends NonceStorageConfig['type']> = Extract<NonceStorageConfig, { type: T }>;

interface NonceStoreType<T extends NonceStorageConfig['type']> {
  parse(options: ConfigNode): ConfigOf<T>;
  /** `logger` already names the store. */
  create(config: ConfigOf<T>, deps: NonceStoreDeps, logger: Logger): NonceStore;
}

const local: NonceStoreType<'local'> = {
  parse: (options) => ({
    type: 'local',
    purgeIntervalMs: options.duration('purge_interval', 60_000, { positive: true, timer: true }),
    // A V8 Set holds at most 2^24 entries; the store refuses more.
    maxEntries: options.integer('max_entries', 5_000_000, 1000, 16_000_000),
  }),
  create: (config, deps, logger) =>
    deps.primary
      ? new SharedNonceStore({ id: deps.id, channel: deps.primary, logger })
      : new LocalNonceStore({ purgeIntervalMs: config.purgeIntervalMs, maxEntries: config.maxEntries, clock: deps.clock, logger }),
};

const redis: NonceStoreType<'redis'> = {
  parse: (options) => {
    const connection = parseRedisConnection(options);
    const connectTimeoutMs = options.duration('connect_timeout', 2000, { positive: true, timer: true });
    const commandTimeoutMs = options.duration('command_timeout', 1000, { positive: true, timer: true });
    // Sentinel promotes a replica that may lack the last claims: there, acknowledgement is the default.
    const waitReplicas = options.integer('wait_replicas', connection.sentinels ? 1 : 0, 0, 100);
    const waitTimeoutMs = options.duration('wait_timeout', 100, { positive: true, timer: true });
    if (waitReplicas > 0 && waitTimeoutMs >= commandTimeoutMs) {
      options.fail('wait_timeout', `${waitTimeoutMs} ms must be shorter than command_timeout (${commandTimeoutMs} ms), which bounds the claim and its WAIT together`);
    }
    return {
      type: 'redis',
      ...connection,
      keyPrefix: options.string('key_prefix', 'jwtproxy:nonce:'),
      connectTimeoutMs,
      commandTimeoutMs,
      waitReplicas,
      waitTimeoutMs,
      acceptEvictingPolicy: options.boolean('accept_evicting_policy', false),
    };
  },
  create: (config, deps, logger) => new RedisNonceStore(config, logger, deps.clock),
};

const none: NonceStoreType<'void'> = {
  parse: () => ({ type: 'void' }),
  create: (_config, _deps, logger) => new VoidNonceStore(logger),
};

export const NONCE_STORAGE_TYPES: { [T in NonceStorageConfig['type']]: NonceStoreType<T> } = { local, redis, void: none };
export const NONCE_STORAGE_NAMES = Object.keys(NONCE_STORAGE_TYPES) as NonceStorageConfig['type'][];

export function createNonceStore(config: NonceStorageConfig, deps: NonceStoreDeps): NonceStore {
  const logger = deps.logger.child({ nonceStore: deps.id, nonceStorage: config.type });
  return (NONCE_STORAGE_TYPES[config.type] as NonceStoreType<typeof config.type>).create(config as never, deps, logger);
}
