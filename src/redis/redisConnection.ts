// Where a Redis is and how to log in to it: one URL, Sentinels, or Cluster nodes, with ACL user,
// password and TLS. Read the same way for the nonce store and the key registry's storage.
import type { ConfigNode } from '../config/ConfigNode';

export interface HostPort {
  host: string;
  port: number;
}

/** TLS towards Redis (or a Sentinel): files are PEM, read when the client is made. */
export interface RedisTlsConfig {
  /** The CA that signed the server's certificate; the system CAs when absent. */
  caFile?: string;
  /** A client certificate and its key, for a server with `tls-auth-clients yes`. */
  certFile?: string;
  keyFile?: string;
  /** The name the server's certificate must carry, when it is not the host dialled (an IP, a Sentinel-announced address). */
  serverName?: string;
}

export interface RedisConnectionConfig {
  /** redis:// or rediss:// (TLS); set unless sentinels or clusterNodes are. */
  url?: string;
  sentinels?: HostPort[];
  sentinelName?: string;
  clusterNodes?: HostPort[];
  /** ACL user (Redis 6+); the URL's user when absent. */
  username?: string;
  password?: string;
  db: number;
  /** TLS to the Redis servers: always with rediss://, with sentinels or cluster when this is set. */
  tls?: RedisTlsConfig;
  /** Sentinels' own login and TLS, which may differ from the servers'. */
  sentinelUsername?: string;
  sentinelPassword?: string;
  sentinelTls?: RedisTlsConfig;
}

function parseHostPorts(node: ConfigNode, key: string): HostPort[] | undefined {
  const list = node.stringList(key);
  if (list.length === 0) return undefined;
  return list.map((entry, index) => {
    const match = /^(.+):(\d{1,5})$/.exec(entry);
    if (!match) node.fail(`${key}[${index}]`, `${JSON.stringify(entry)} is not host:port`);
    return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  });
}

/** A `tls:` block; absent → undefined. `tls: {}` turns TLS on with the system CAs. */
function parseTls(node: ConfigNode, key: string): RedisTlsConfig | undefined {
  if (!node.has(key)) {
    node.raw(key);
    return undefined;
  }
  const tls = node.child(key);
  const config: RedisTlsConfig = {
    caFile: tls.string('ca_file') || undefined,
    certFile: tls.string('cert_file') || undefined,
    keyFile: tls.string('key_file') || undefined,
    serverName: tls.string('server_name') || undefined,
  };
  tls.done();
  if (Boolean(config.certFile) !== Boolean(config.keyFile)) {
    tls.fail(config.certFile ? 'key_file' : 'cert_file', 'a client certificate needs both cert_file and key_file (or neither)');
  }
  if (config.caFile) tls.requires('ca_file', { kind: 'file', path: config.caFile, holds: 'trusted_certificates' });
  if (config.keyFile) tls.requires('key_file', { kind: 'file', path: config.keyFile, holds: 'private_key' });
  if (config.certFile) {
    tls.requires('cert_file', { kind: 'file', path: config.certFile, holds: 'certificate', key: { at: tls.at('key_file'), path: config.keyFile! } });
  }
  return config;
}

/**
 * Reads url | sentinels + sentinel_name | cluster, username, password, db, tls, and the
 * sentinel_* login. `defaultUrl` applies when none of the three is given.
 */
export function parseRedisConnection(options: ConfigNode, defaultUrl = 'redis://127.0.0.1:6379'): RedisConnectionConfig {
  const sentinels = parseHostPorts(options, 'sentinels');
  const clusterNodes = parseHostPorts(options, 'cluster');
  const url = options.secret('url');
  if ([url, sentinels, clusterNodes].filter(Boolean).length > 1) {
    options.fail('url', 'give only one of url, sentinels or cluster');
  }
  const sentinelName = options.string('sentinel_name');
  if (sentinels && !sentinelName) options.fail('sentinel_name', 'is required with sentinels: the monitored master name');
  if (url && !/^rediss?:\/\//.test(url)) options.fail('url', `${JSON.stringify(url)} must start with redis:// or rediss://`);
  const tls = parseTls(options, 'tls');
  if (tls && url?.startsWith('redis://')) {
    options.fail('tls', 'a redis:// URL is plain TCP: write the URL as rediss:// to use TLS, or remove tls');
  }
  const sentinelTls = parseTls(options, 'sentinel_tls');
  const sentinelUsername = options.string('sentinel_username') || undefined;
  const sentinelPassword = options.secret('sentinel_password') || undefined;
  if (!sentinels) {
    const stray = (['sentinel_name', 'sentinel_username', 'sentinel_password', 'sentinel_tls'] as const).find((key) => options.has(key));
    if (stray) options.fail(stray, 'applies to Sentinels only: add sentinels: [host:port, …], or remove it');
  }
  const db = options.integer('db', 0, 0, 255);
  if (clusterNodes && db !== 0) options.fail('db', `${db} cannot be used with a Redis Cluster, which has only db 0; remove db`);
  return {
    url: url ?? (sentinels || clusterNodes ? undefined : defaultUrl),
    sentinels,
    sentinelName,
    clusterNodes,
    username: options.string('username') || undefined,
    password: options.secret('password') || undefined,
    db,
    tls: tls ?? (url?.startsWith('rediss://') ? {} : undefined),
    sentinelUsername,
    sentinelPassword,
    sentinelTls,
  };
}

/** Where Redis is, for logs and errors; never a password. */
export function describeRedis(config: RedisConnectionConfig): string {
  if (config.clusterNodes) return `cluster ${config.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(',')}`;
  if (config.sentinels) return `sentinel ${config.sentinelName} via ${config.sentinels.map(({ host, port }) => `${host}:${port}`).join(',')}`;
  const url = new URL(config.url ?? 'redis://127.0.0.1:6379');
  url.password = '';
  url.username = '';
  return url.toString();
}
