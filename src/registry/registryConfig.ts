// The key_registry block: the built-in key server of the registry protocol.
import type { ConfigNode } from '../config/ConfigNode';
import { DEFAULT_LISTENER_LIMITS, parseListenAddr, parseListener, type ListenerLimits } from '../proxy/listenerConfig';
import { parseRedisConnection, type RedisConnectionConfig } from '../redis/redisConnection';
import { SERVICE_NAME } from './RegisteredKey';

export interface KeyRegistryConfig {
  enabled: boolean;
  listenAddr: string;
  socketPermission: number;
  shutdownTimeoutMs: number;
  /** Absent: the registry's defaults (a 30 s request timeout: its requests are small). */
  limits?: ListenerLimits;
  tls?: { keyFile: string; crtFile: string };
  /** The registry's own scheme://host, which request JWTs must name as `aud`; taken from each request's Host when unset. */
  audience?: URL;
  approval: 'auto' | 'manual';
  /** Under auto approval, services whose every new self-signed key is approved, not only their first. */
  autoApproveServices: string[];
  storage:
    | { type: 'memory' }
    | { type: 'file'; path: string }
    /** acceptEvictingPolicy: as the nonce store's, for the registry's request-token nonces. */
    | ({ type: 'redis'; keyPrefix: string; acceptEvictingPolicy: boolean } & RedisConnectionConfig);
  /** Upper bound of Cache-Control max-age on key responses. */
  maxCacheAgeMs: number;
  /** How long a key stays valid after a rotation replaced it. */
  rotationGraceMs: number;
  /** Keys awaiting approval one service may have; one more PUT is refused with 429. */
  maxPendingKeysPerService: number;
  /** A key not approved within this is dropped. */
  pendingKeyTtlMs: number;
  admin: { enabled: boolean; listenAddr: string; token?: string };
}

/** Registry requests are small: a client still sending after 30 s is holding a connection hostage. */
export const REGISTRY_LISTENER_LIMITS: ListenerLimits = { ...DEFAULT_LISTENER_LIMITS, requestTimeoutMs: 30_000, headersTimeoutMs: 30_000 };

export function parseKeyRegistry(node: ConfigNode): KeyRegistryConfig {
  const enabled = node.boolean('enabled', true);
  const listener = parseListener(node, ':8090', REGISTRY_LISTENER_LIMITS);
  const audience = node.has('audience') ? node.httpUrl('audience', "the registry's own URL, e.g. http://keyregistry:8090") : (node.raw('audience'), undefined);
  const approval = node.string('approval', 'manual');
  if (approval !== 'auto' && approval !== 'manual') node.fail('approval', `${JSON.stringify(approval)} must be auto or manual`);
  const autoApproveServices = node.stringList('auto_approve_services');
  if (autoApproveServices.length > 0 && approval !== 'auto') {
    node.fail('auto_approve_services', 'approves keys automatically, which approval: manual does not; set approval: auto or remove it');
  }
  const badName = autoApproveServices.find((service) => !SERVICE_NAME.test(service));
  if (badName !== undefined) node.fail('auto_approve_services', `${JSON.stringify(badName)} is not a service name (they match ${SERVICE_NAME.source})`);
  const storageNode = node.component('storage', ['memory', 'file', 'redis'] as const, 'memory')!;
  const options = storageNode.options;
  let storage: KeyRegistryConfig['storage'];
  if (storageNode.type === 'file') {
    storage = { type: 'file', path: options.requiredString('path', 'the JSON file the registry keeps its keys in') };
    options.requires('path', { kind: 'written_file', path: storage.path });
  } else if (storageNode.type === 'redis') {
    const connection = parseRedisConnection(options);
    // One update writes a service's hash and the set of services: on a Cluster both must share a
    // slot (else CROSSSLOT), which a hash tag in the prefix gives every registry key.
    const keyPrefix = options.string('key_prefix', connection.clusterNodes ? '{jwtproxy:registry}:' : 'jwtproxy:registry:');
    if (connection.clusterNodes && !/\{[^}]+\}/.test(keyPrefix)) {
      options.fail('key_prefix', `${JSON.stringify(keyPrefix)} has no hash tag: on a Redis Cluster every registry key must share one slot; write it as {${keyPrefix}}`);
    }
    storage = { type: 'redis', ...connection, keyPrefix, acceptEvictingPolicy: options.boolean('accept_evicting_policy', false) };
  } else {
    storage = { type: 'memory' };
  }
  options.done();
  const adminNode = node.child('admin');
  const admin = {
    enabled: adminNode.boolean('enabled', false),
    listenAddr: parseListenAddr(adminNode, 'listen_addr', '127.0.0.1:8091'),
    token: adminNode.secret('token') || undefined,
  };
  adminNode.done();
  if (!admin.enabled) adminNode.dropPrerequisites();
  const config: KeyRegistryConfig = {
    enabled,
    ...listener,
    audience,
    approval,
    autoApproveServices,
    storage,
    maxCacheAgeMs: node.duration('max_cache_age', 86_400_000, { positive: true }),
    rotationGraceMs: node.duration('rotation_grace', 600_000, { nonNegative: true }),
    maxPendingKeysPerService: node.integer('max_pending_keys_per_service', 10, 1, 100_000),
    pendingKeyTtlMs: node.duration('pending_key_ttl', 86_400_000, { positive: true }),
    admin,
  };
  node.done();
  if (!enabled) node.dropPrerequisites();
  return config;
}
