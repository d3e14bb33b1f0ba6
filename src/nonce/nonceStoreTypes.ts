// The registry of nonce store types: for each `nonce_storage.type`, how its options are read
// and how the store is built. The config parser and createNonceStore both read this table.
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { ConfigNode } from '../config/ConfigNode';
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

function parseHostPorts(node: ConfigNode, key: string): { host: string; port: number }[] | undefined {
  const list = node.stringList(key);
  if (list.length === 0) return undefined;
  return list.map((entry, index) => {
    const match = /^(.+):(\d{1,5})$/.exec(entry);
    if (!match) node.fail(`${key}[${index}]`, `${JSON.stringify(entry)} is not host:port`);
    return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  });
}

const redis: NonceStoreType<'redis'> = {
  parse: (options) => {
    const sentinels = parseHostPorts(options, 'sentinels');
    const clusterNodes = parseHostPorts(options, 'cluster');
    const url = options.secret('url');
    if ([url, sentinels, clusterNodes].filter(Boolean).length > 1) {
      options.fail('url', 'give only one of url, sentinels or cluster');
    }
    const sentinelName = options.string('sentinel_name');
    if (sentinels && !sentinelName) options.fail('sentinel_name', 'is required with sentinels: the monitored master name');
    if (url && !/^rediss?:\/\//.test(url)) options.fail('url', `${JSON.stringify(url)} must start with redis:// or rediss://`);
    return {
      type: 'redis',
      url: url ?? (sentinels || clusterNodes ? undefined : 'redis://127.0.0.1:6379'),
      keyPrefix: options.string('key_prefix', 'jwtproxy:nonce:'),
      sentinels,
      sentinelName,
      clusterNodes,
      password: options.secret('password'),
      db: options.integer('db', 0, 0, 255),
      connectTimeoutMs: options.duration('connect_timeout', 2000, { positive: true, timer: true }),
      commandTimeoutMs: options.duration('command_timeout', 1000, { positive: true, timer: true }),
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
