// The registry of key server types: for each `key_server.type`, its options, how they are read
// and how the server is built. The config parser and createKeyServer both read this table,
// so a new key server touches its own file and one line here; a server's module loads only
// when a config names it.
import type { ConfigNode } from '../config/ConfigNode';
import type { Logger } from '../observability/logger';
import type { Clock } from '../util/clock';
import type { KeyServer } from './KeyServer';

export type KeyServerConfig =
  | { type: 'preshared'; issuer: string; keyId: string; publicKeyPath: string }
  | {
      type: 'keyregistry';
      registry: URL;
      cacheDurationMs: number;
      purgeIntervalMs: number;
      notFoundCacheMs: number;
      /** How long past its freshness a known key stays usable while the registry is unreachable or answers 5xx; 0: not at all. */
      staleIfErrorMs: number;
    }
  | {
      type: 'jwks';
      /** The JWKS (or Cloudflare certs document); absent with discoveryUrl, which names it. */
      url?: URL;
      /** OIDC discovery: `jwks_uri` is read from here, and its `issuer` must be `issuers[0]`. */
      discoveryUrl?: URL;
      issuers: string[];
      refreshIntervalMs: number;
      minRefetchIntervalMs: number;
    }
  | { type: 'pem_per_kid'; baseUrl: URL; issuers: string[]; cacheDurationMs: number; notFoundCacheMs: number };

export interface KeyServerDeps {
  clock: Clock;
  logger: Logger;
}

type ConfigOf<T extends KeyServerConfig['type']> = Extract<KeyServerConfig, { type: T }>;

interface KeyServerType<T extends KeyServerConfig['type']> {
  parse(options: ConfigNode): ConfigOf<T>;
  create(config: ConfigOf<T>, deps: KeyServerDeps): KeyServer;
}

const preshared: KeyServerType<'preshared'> = {
  parse: (options) => {
    const publicKeyPath = options.requiredString('public_key_path', 'a PEM file holding the PUBLIC KEY');
    options.requires('public_key_path', { kind: 'file', path: publicKeyPath, holds: 'public_key' });
    return {
      type: 'preshared',
      issuer: options.requiredString('issuer', 'the iss of the tokens signed with this key'),
      keyId: options.requiredString('key_id', 'the kid of the tokens signed with this key'),
      publicKeyPath,
    };
  },
  create: (config) => {
    const { PresharedKeyServer } = require('./PresharedKeyServer') as typeof import('./PresharedKeyServer');
    return new PresharedKeyServer(config);
  },
};

const keyregistry: KeyServerType<'keyregistry'> = {
  parse: (options) => {
    const cache = options.component('cache', ['memory'] as const, 'memory')!.options;
    const config: ConfigOf<'keyregistry'> = {
      type: 'keyregistry',
      registry: options.httpUrl('registry', 'the base URL of the key registry, e.g. http://keyregistry:8080/'),
      cacheDurationMs: cache.duration('duration', 600_000),
      purgeIntervalMs: cache.duration('purge_interval', 60_000, { positive: true, timer: true }),
      notFoundCacheMs: cache.duration('not_found_duration', 5_000, { nonNegative: true }),
      staleIfErrorMs: cache.duration('stale_if_error', 3_600_000, { nonNegative: true }),
    };
    cache.done();
    return config;
  },
  create: (config, deps) => {
    const { KeyRegistryKeyServer } = require('./KeyRegistryKeyServer') as typeof import('./KeyRegistryKeyServer');
    return new KeyRegistryKeyServer(config, { clock: deps.clock, logger: deps.logger.child({ component: 'keyregistry' }) });
  },
};

const jwks: KeyServerType<'jwks'> = {
  parse: (options) => {
    if (options.has('url') === options.has('discovery_url')) {
      options.fail('url', 'give the JWKS url, e.g. https://<team>.cloudflareaccess.com/cdn-cgi/access/certs, or an OIDC discovery_url (one of the two)');
    }
    const issuers = options.stringList('issuers');
    const discoveryUrl = options.has('discovery_url') ? options.httpUrl('discovery_url', 'the OIDC discovery document, <issuer>/.well-known/openid-configuration') : undefined;
    if (discoveryUrl && issuers.length !== 1) options.fail('issuers', 'with discovery_url, name the one issuer the discovery document must declare');
    return {
      type: 'jwks',
      url: options.has('url') ? options.httpUrl('url', 'the JWKS URL') : (options.raw('url'), undefined),
      discoveryUrl,
      issuers,
      refreshIntervalMs: options.duration('refresh_interval', 3_600_000, { positive: true }),
      minRefetchIntervalMs: options.duration('min_refetch_interval', 30_000, { nonNegative: true }),
    };
  },
  create: (config, deps) => {
    const { JwksKeyServer } = require('./JwksKeyServer') as typeof import('./JwksKeyServer');
    return new JwksKeyServer(config, { clock: deps.clock, logger: deps.logger.child({ component: 'jwks' }) });
  },
};

const pemPerKid: KeyServerType<'pem_per_kid'> = {
  parse: (options) => ({
    type: 'pem_per_kid',
    baseUrl: options.httpUrl('url', 'the base URL the kid is appended to, e.g. https://public-keys.auth.elb.eu-west-1.amazonaws.com/'),
    issuers: options.stringList('issuers'),
    cacheDurationMs: options.duration('cache_duration', 24 * 3_600_000, { positive: true }),
    notFoundCacheMs: options.duration('not_found_duration', 30_000, { nonNegative: true }),
  }),
  create: (config, deps) => {
    const { PemPerKidKeyServer } = require('./PemPerKidKeyServer') as typeof import('./PemPerKidKeyServer');
    return new PemPerKidKeyServer(config, { clock: deps.clock, logger: deps.logger.child({ component: 'pem_per_kid' }) });
  },
};

export const KEY_SERVER_TYPES: { [T in KeyServerConfig['type']]: KeyServerType<T> } = {
  preshared,
  keyregistry,
  jwks,
  pem_per_kid: pemPerKid,
};

export const KEY_SERVER_NAMES = Object.keys(KEY_SERVER_TYPES) as KeyServerConfig['type'][];

export function createKeyServer(config: KeyServerConfig, deps: KeyServerDeps): KeyServer {
  return (KEY_SERVER_TYPES[config.type] as KeyServerType<typeof config.type>).create(config as never, deps);
}
