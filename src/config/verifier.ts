// The verifier_proxies entries: listener, upstreams, checks, key server, nonce storage, claims verifiers.
import { ConfigNode } from './ConfigNode';
import { parseListener } from './listener';
import type { ClaimsVerifierConfig, KeyServerConfig, NonceStorageConfig, VerifierProxyConfig } from './types';

const KEY_SERVER_TYPES = ['preshared', 'keyregistry', 'jwks'] as const;
const NONCE_STORAGE_TYPES = ['local', 'redis', 'void'] as const;
const CLAIMS_VERIFIER_TYPES = ['static'] as const;
/** Headers the proxies set or that frame the message: a claims header may not take their names. */
export const RESERVED_HEADERS = [
  'host', 'authorization', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection', 'expect', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-authorization',
];

export function parseVerifierProxy(node: ConfigNode): VerifierProxyConfig {
  const enabled = node.boolean('enabled', true);
  const listener = parseListener(node, ':8081');
  const verifierNode: ConfigNode = node.child('verifier');
  const forwardAuth = verifierNode.boolean('forward_auth', false);
  if (forwardAuth && verifierNode.has('upstream')) verifierNode.fail('upstream', 'a forward_auth verifier answers itself and has no upstream; remove one of them');
  const verifier = {
    upstreams: forwardAuth ? [] : parseUpstreams(verifierNode),
    forwardAuth,
    upstreamFailureTimeoutMs: verifierNode.duration('upstream_failure_timeout', 10_000, { nonNegative: true }),
    upstreamInsecureSkipVerify: verifierNode.boolean('upstream_insecure_skip_verify', false),
    upstreamTrustedCertificates: verifierNode.stringList('upstream_trusted_certificates'),
    audience: verifierNode.httpUrl('audience', 'the URL the signers address this verifier by, e.g. https://api.example.com/'),
    maxSkewMs: verifierNode.duration('max_skew', 60_000, { nonNegative: true }),
    maxTtlMs: verifierNode.duration('max_ttl', 300_000, { positive: true }),
    keyServer: parseKeyServer(verifierNode),
    nonceStorage: parseNonceStorage(verifierNode),
    claimsVerifiers: verifierNode.children('claims_verifiers').map(parseClaimsVerifier),
    claimsHeader: verifierNode.headerName('claims_header', RESERVED_HEADERS),
  };
  verifierNode.done();
  node.done();
  return { enabled, ...listener, verifier };
}

function parseUpstreams(node: ConfigNode): string[] {
  const upstreams = node.stringList('upstream');
  if (upstreams.length === 0) node.fail('upstream', 'is required: an http://, https:// or unix:/path URL, or a list of them (or set forward_auth: true)');
  upstreams.forEach((upstream, index) => {
    const where = upstreams.length > 1 || Array.isArray(node.raw('upstream')) ? `upstream[${index}]` : 'upstream';
    if (upstream.startsWith('unix:')) {
      if (upstream.length === 5) node.fail(where, 'a unix upstream needs a socket path, e.g. unix:/run/app.sock');
      return;
    }
    let url: URL | undefined;
    try {
      url = new URL(upstream);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      node.fail(where, `${JSON.stringify(upstream)} is not an upstream (use http://host:port/path, https://… or unix:/path)`);
    }
  });
  return upstreams;
}


function parseKeyServer(verifier: ConfigNode): KeyServerConfig {
  const component = verifier.component('key_server', KEY_SERVER_TYPES);
  if (!component) verifier.fail('key_server', `is required: {type: preshared|keyregistry|jwks, options: {...}}`);
  const type = component.type;
  const options: ConfigNode = component.options;
  let config: KeyServerConfig;
  if (type === 'preshared') {
    config = {
      type,
      issuer: options.requiredString('issuer', 'the iss of the tokens signed with this key'),
      keyId: options.requiredString('key_id', 'the kid of the tokens signed with this key'),
      publicKeyPath: options.requiredString('public_key_path', 'a PEM file holding the PUBLIC KEY'),
    };
  } else if (type === 'jwks') {
    config = {
      type,
      url: options.httpUrl('url', 'the JWKS URL, e.g. https://<team>.cloudflareaccess.com/cdn-cgi/access/certs'),
      issuers: options.stringList('issuers'),
      refreshIntervalMs: options.duration('refresh_interval', 3_600_000, { positive: true }),
      minRefetchIntervalMs: options.duration('min_refetch_interval', 30_000, { nonNegative: true }),
    };
  } else {
    const cache = options.component('cache', ['memory'] as const, 'memory')!.options;
    config = {
      type,
      registry: options.httpUrl('registry', 'the base URL of the key registry, e.g. http://keyregistry:8080/'),
      cacheDurationMs: cache.duration('duration', 600_000),
      purgeIntervalMs: cache.duration('purge_interval', 60_000, { positive: true }),
      notFoundCacheMs: cache.duration('not_found_duration', 5_000, { nonNegative: true }),
    };
    cache.done();
  }
  options.done();
  return config;
}

function parseNonceStorage(verifier: ConfigNode): NonceStorageConfig {
  const component = verifier.component('nonce_storage', NONCE_STORAGE_TYPES, 'local')!;
  const type = component.type;
  const options: ConfigNode = component.options;
  let config: NonceStorageConfig;
  if (type === 'local') {
    config = {
      type,
      purgeIntervalMs: options.duration('purge_interval', 60_000, { positive: true }),
      // A V8 Set holds at most 2^24 entries; the store refuses more.
      maxEntries: options.integer('max_entries', 5_000_000, 1000, 16_000_000),
    };
  } else if (type === 'redis') {
    const sentinels = parseHostPorts(options, 'sentinels');
    const clusterNodes = parseHostPorts(options, 'cluster');
    const url = options.string('url');
    if ([url, sentinels, clusterNodes].filter(Boolean).length > 1) {
      options.fail('url', 'give only one of url, sentinels or cluster');
    }
    const sentinelName = options.string('sentinel_name');
    if (sentinels && !sentinelName) options.fail('sentinel_name', 'is required with sentinels: the monitored master name');
    if (url && !/^rediss?:\/\//.test(url)) options.fail('url', `${JSON.stringify(url)} must start with redis:// or rediss://`);
    config = {
      type,
      url: url ?? (sentinels || clusterNodes ? undefined : 'redis://127.0.0.1:6379'),
      keyPrefix: options.string('key_prefix', 'jwtproxy:nonce:'),
      sentinels,
      sentinelName,
      clusterNodes,
      password: options.string('password'),
      db: options.integer('db', 0, 0, 255),
      connectTimeoutMs: options.duration('connect_timeout', 2000, { positive: true }),
      commandTimeoutMs: options.duration('command_timeout', 1000, { positive: true }),
    };
  } else {
    config = { type };
  }
  options.done();
  return config;
}

function parseHostPorts(node: ConfigNode, key: string): { host: string; port: number }[] | undefined {
  const list = node.stringList(key);
  if (list.length === 0) return undefined;
  return list.map((entry, index) => {
    const match = /^(.+):(\d{1,5})$/.exec(entry);
    if (!match) node.fail(`${key}[${index}]`, `${JSON.stringify(entry)} is not host:port`);
    return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  });
}

function parseClaimsVerifier(node: ConfigNode): ClaimsVerifierConfig {
  const type = node.string('type');
  if (!type) node.fail('type', `is required: one of ${CLAIMS_VERIFIER_TYPES.join(', ')}`);
  if (!(CLAIMS_VERIFIER_TYPES as readonly string[]).includes(type)) {
    node.fail('type', `unknown type ${JSON.stringify(type)}; expected one of ${CLAIMS_VERIFIER_TYPES.join(', ')}`);
  }
  const options = node.raw('options') ?? {};
  if (typeof options !== 'object' || Array.isArray(options)) node.fail('options', 'expected a mapping of claim names to required values');
  node.done();
  return { type: 'static', claims: options as Record<string, unknown> };
}
