// An ioredis client for a RedisConnectionConfig: a standalone server, a master found through
// Sentinels (following the master switches they announce), or a Cluster; with ACL user, password
// and TLS (private CA, client certificate, server name) on servers and Sentinels alike.
import * as fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConnectionConfig, RedisTlsConfig } from './redisConnection';

/** What the caller decides per use: queueing, timeouts, retries, pipelining. */
export type RedisClientOptions = Omit<RedisOptions, 'sentinels' | 'name' | 'tls' | 'username' | 'password' | 'db'> & {
  /** Cluster only: passed to the Cluster itself rather than to each node's connection. */
  clusterRetryStrategy?: ClusterOptions['clusterRetryStrategy'];
};

/** Node TLS options from the config, the files read now (start-up checked that they are readable). */
export function tlsOptions(tls: RedisTlsConfig): ConnectionOptions {
  return {
    ...(tls.caFile && { ca: fs.readFileSync(tls.caFile) }),
    ...(tls.certFile && { cert: fs.readFileSync(tls.certFile) }),
    ...(tls.keyFile && { key: fs.readFileSync(tls.keyFile) }),
    ...(tls.serverName && { servername: tls.serverName }),
  };
}

export function createRedisClient(config: RedisConnectionConfig, options: RedisClientOptions): Redis | Cluster {
  const { clusterRetryStrategy, enableOfflineQueue, enableAutoPipelining, ...connection } = options;
  const login: RedisOptions = {
    ...(config.username !== undefined && { username: config.username }),
    ...(config.password !== undefined && { password: config.password }),
    ...(config.tls && { tls: tlsOptions(config.tls) }),
  };
  if (config.clusterNodes) {
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue,
      enableAutoPipelining,
      // The Cluster itself connects (or not) at once; each node's connection follows it.
      ...(connection.lazyConnect !== undefined && { lazyConnect: connection.lazyConnect }),
      ...(clusterRetryStrategy && { clusterRetryStrategy }),
      redisOptions: { ...connection, ...login },
      // With TLS, nodes are dialled at the addresses the cluster announces: keep them as given
      // (no reverse lookup) so that server_name, or the address itself, is what the certificate is checked against.
      ...(config.tls && { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) }),
    };
    return new Cluster(config.clusterNodes, clusterOptions);
  }
  const common: RedisOptions = {
    ...connection,
    ...login,
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(enableAutoPipelining !== undefined && { enableAutoPipelining }),
    // With a URL, db 0 means "what the URL says" (redis://host:port/3); a non-zero db overrides it.
    ...(config.db !== 0 && { db: config.db }),
  };
  if (config.sentinels) {
    return new Redis({
      ...common,
      sentinels: config.sentinels,
      name: config.sentinelName,
      // Ask the Sentinels again, at once, when they announce +switch-master: a client that waited
      // for the old master to be demoted (Sentinel's next INFO poll, ~10 s) would write nonces
      // there that the old master drops when it resynchronises.
      failoverDetector: true,
      enableTLSForSentinelMode: config.tls !== undefined,
      ...(config.sentinelUsername !== undefined && { sentinelUsername: config.sentinelUsername }),
      ...(config.sentinelPassword !== undefined && { sentinelPassword: config.sentinelPassword }),
      ...(config.sentinelTls && { sentinelTLS: tlsOptions(config.sentinelTls) }),
      sentinelRetryStrategy: options.retryStrategy as RedisOptions['sentinelRetryStrategy'],
    });
  }
  return new Redis(config.url ?? 'redis://127.0.0.1:6379', common);
}
