// The registry of nonce store types: for each `nonce_storage.type`, its options, how they are
// read, how the store is built and where it runs with several workers. The config parser and
// createNonceStore both read this table, which loads a store's module only when a config names it.
import { EACH_WORKER, type Placement } from '../cluster/Placement';
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { ConfigNode } from '../config/ConfigNode';
import type { Logger } from '../observability/logger';
import { parseRedisConnection, type RedisConnectionConfig } from '../redis/redisConnection';
import type { Clock } from '../util/clock';
import type { NonceStore } from './NonceStore';

export type NonceStorageConfig =
  | { type: 'local'; purgeIntervalMs: number; maxEntries: number }
  | ({
      type: 'redis';
      keyPrefix: string;
      connectTimeoutMs: number;
      commandTimeoutMs: number;
      /** Replicas that must acknowledge a claim (WAIT) before its token passes; 0: no WAIT. */
      waitReplicas: number;
      /** How long WAIT waits for them; then the token gets 503. */
      waitTimeoutMs: number;
      /** Use a server whose maxmemory-policy may evict nonces (the operator accepts replays then). */
      acceptEvictingPolicy: boolean;
    } & RedisConnectionConfig)
  | { type: 'void' };

export interface NonceStoreDeps {
  clock: Clock;
  logger: Logger;
  /** The store's name, the same in the primary and the workers, e.g. "verifier_proxies[0]". */
  id: string;
  /**
   * In a cluster worker, the channel to the primary: a store placed there (`local`, see
   * SharedNonceStoreHost) is reached over IPC, so all workers share it.
   */
  primary?: PrimaryChannel;
}

type ConfigOf<T extends NonceStorageConfig['type']> = Extract<NonceStorageConfig, { type: T }>;

interface NonceStoreType<T extends NonceStorageConfig['type']> {
  parse(options: ConfigNode): ConfigOf<T>;
  /** `logger` already names the store. */
  create(config: ConfigOf<T>, deps: NonceStoreDeps, logger: Logger): NonceStore;
  placement: Placement<NonceStore>;
}

const local: NonceStoreType<'local'> = {
  parse: (options) => ({
    type: 'local',
    purgeIntervalMs: options.duration('purge_interval', 60_000, { positive: true, timer: true }),
    // A V8 Set holds at most 2^24 entries; the store refuses more.
    maxEntries: options.integer('max_entries', 5_000_000, 1000, 16_000_000),
  }),
  create: (config, deps, logger) => {
    const { LocalNonceStore } = require('./LocalNonceStore') as typeof import('./LocalNonceStore');
    return new LocalNonceStore({ purgeIntervalMs: config.purgeIntervalMs, maxEntries: config.maxEntries, clock: deps.clock, logger });
  },
  placement: {
    runs: 'primary',
    relay: (channel, id, logger) => {
      const { SharedNonceStore } = require('./SharedNonceStore') as typeof import('./SharedNonceStore');
      return new SharedNonceStore({ id, channel, logger });
    },
  },
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
  create: (config, deps, logger) => {
    const { RedisNonceStore } = require('./RedisNonceStore') as typeof import('./RedisNonceStore');
    return new RedisNonceStore(config, logger, deps.clock);
  },
  placement: EACH_WORKER,
};

const none: NonceStoreType<'void'> = {
  parse: () => ({ type: 'void' }),
  create: (_config, _deps, logger) => {
    const { VoidNonceStore } = require('./VoidNonceStore') as typeof import('./VoidNonceStore');
    return new VoidNonceStore(logger);
  },
  placement: EACH_WORKER,
};

export const NONCE_STORAGE_TYPES: { [T in NonceStorageConfig['type']]: NonceStoreType<T> } = { local, redis, void: none };
export const NONCE_STORAGE_NAMES = Object.keys(NONCE_STORAGE_TYPES) as NonceStorageConfig['type'][];

/** Built in the primary (one for all workers) rather than in each worker. */
export function nonceStoreRunsInPrimary(config: NonceStorageConfig): boolean {
  return NONCE_STORAGE_TYPES[config.type].placement.runs === 'primary';
}

/** The store itself, or in a cluster worker the relay to the primary's one when the primary holds it. */
export function createNonceStore(config: NonceStorageConfig, deps: NonceStoreDeps): NonceStore {
  const logger = deps.logger.child({ nonceStore: deps.id, nonceStorage: config.type });
  const type = NONCE_STORAGE_TYPES[config.type] as NonceStoreType<typeof config.type>;
  if (deps.primary && type.placement.runs === 'primary') return type.placement.relay(deps.primary, deps.id, logger);
  return type.create(config as never, deps, logger);
}
