// The verifier_proxies entries: listener, upstreams, token rules (or a provider preset),
// key server, nonce storage, claims verifiers, identity headers, refusals, forward-auth.
import type { HeaderMapping } from '../claims/claimsToHeaders';
import { CLAIMS_VERIFIER_NAMES, CLAIMS_VERIFIER_TYPES, type ClaimsVerifierConfig } from '../claims/claimsVerifierTypes';
import { ConfigNode } from '../config/ConfigNode';
import { RESERVED_HEADERS } from '../config/reservedHeaders';
import { VERIFICATION_ALGORITHMS, type VerificationAlgorithm } from '../jwt/algorithms';
import type { ClaimRules } from '../jwt/registeredClaims';
import { KEY_SERVER_NAMES, KEY_SERVER_TYPES, type KeyServerConfig } from '../keys/keyServerTypes';
import { NONCE_STORAGE_NAMES, NONCE_STORAGE_TYPES, type NonceStorageConfig } from '../nonce/nonceStoreTypes';
import { CelExpression } from '../policy/CelExpression';
import type { ProviderHeaders, ProviderPreset } from '../providers/ProviderPreset';
import { PROVIDER_NAMES, PROVIDER_TYPES } from '../providers/providerTypes';
import { type ListenerConfig, parseListener } from '../proxy/listenerConfig';
import { parseProxyRange, TRUST_NO_PROXY, TrustedProxies } from '../proxy/TrustedProxies';
import type { UpstreamTimeouts } from '../proxy/UpstreamSet';
import type { TokenRules } from './Authenticator';
import { type ClientCertificateConfig, parseClientAuth, parseClientCertificates } from './clientCertificatesConfig';
import { parseIdentity } from './identityConfig';
import type { IdentityConfig } from './IdentityExpander';
import { AUTHORIZATION_ONLY, type TokenSource } from './tokenSources';

/** Forward-auth (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz): answer the gateway instead of forwarding. */
export interface ForwardAuthConfig {
  /**
   * Whose contract the original request is read by: `traefik` (X-Forwarded-Method/-Proto/-Host/-Uri),
   * `nginx` (X-Original-URI/-Method), `envoy` (the request itself), or `auto` (the first of those
   * whose headers are present; a request with both Traefik's and nginx's is refused).
   */
  gateway: 'auto' | 'traefik' | 'nginx' | 'envoy';
  /** `/auth/<AUD>`: the audience is the path segment after this prefix (one of `audiences` when those are set). */
  audienceFromPath?: string;
}

export interface VerifierConfig {
  /** Empty in forward-auth mode. */
  upstreams: string[];
  /** Answer 200 (with the claims header) or 401/403 instead of forwarding: for Traefik ForwardAuth, nginx auth_request, Envoy ext_authz. */
  forwardAuth: boolean;
  /** How long an upstream that failed is skipped before it is tried again. */
  upstreamFailureTimeoutMs: number;
  upstreamTimeouts: UpstreamTimeouts;
  /** The peers whose X-Forwarded-For is kept and appended to; everyone else's is replaced. */
  trustedProxies: TrustedProxies;
  /** Every other peer is refused before its token is read: the verifier sits behind those proxies only. */
  onlyFromTrustedProxies: boolean;
  upstreamInsecureSkipVerify: boolean;
  upstreamTrustedCertificates: string[];
  /** The Go jwtproxy's URL audience, compared by origin; absent when only opaque `audiences` (or a provider's) are checked. */
  audience?: URL;
  maxSkewMs: number;
  /** 0: no limit. */
  maxTtlMs: number;
  keyServer: KeyServerConfig;
  /** Absent when tokens may be reused until exp (`single_use: false`). */
  nonceStorage?: NonceStorageConfig;
  claimsVerifiers: ClaimsVerifierConfig[];
  /** When set, the verified claims go to the upstream as JSON in this header. */
  claimsHeader?: string;
  /** What a valid token is here, compiled. */
  rules: TokenRules;
  /** The identity-aware proxy this verifier sits behind, for the logs. */
  provider?: string;
  /** The identity headers that provider sets: stripped from clients, set again from the token. */
  providerHeaders?: ProviderHeaders;
  forwardAuthOptions: ForwardAuthConfig;
  claimsToHeaders: HeaderMapping[];
  /** 'go': 403 text/plain with the Go body; 'rfc6750': 401/403 with WWW-Authenticate and a JSON body. */
  refusalStyle: 'go' | 'rfc6750';
  /** che-jwtproxy: browsers without a valid token are sent here, with the original URL. */
  authRedirectUrl?: URL;
  /** che-jwtproxy: the path prefix the public URL has before the request path. */
  publicBasePath: string;
  /** Normalised paths that skip verification: exact, or a prefix when written with a trailing "*". */
  excludes: { path: string; prefix: boolean }[];
  /** Entries of the verified-token cache (tokens reusable until exp only); 0 turns it off. */
  tokenCacheEntries: number;
  clientCertificates: ClientCertificateConfig;
  /** Identity expansion (Cloudflare Access's get-identity): off when absent. */
  identity?: IdentityConfig;
}

export interface VerifierProxyConfig extends ListenerConfig {
  enabled: boolean;
  verifier: VerifierConfig;
}

const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

export function parseVerifierProxy(node: ConfigNode): VerifierProxyConfig {
  const enabled = node.boolean('enabled', true);
  const listener = parseListener(node, ':8081');
  listener.tls = parseClientAuth(node, listener.tls);
  const verifierNode: ConfigNode = node.child('verifier');
  const forwardAuthOptions = parseForwardAuth(verifierNode);
  const forwardAuth = forwardAuthOptions !== undefined;
  if (forwardAuth && verifierNode.has('upstream')) verifierNode.fail('upstream', 'a forward_auth verifier answers itself and has no upstream; remove one of them');
  const provider = parseProvider(verifierNode);
  const preset = provider?.preset;

  const audience = verifierNode.has('audience')
    ? verifierNode.httpUrl('audience', 'the URL the signers address this verifier by, e.g. https://api.example.com/')
    : (verifierNode.raw('audience'), undefined);
  const audiences = verifierNode.has('audiences') ? verifierNode.stringList('audiences') : (verifierNode.raw('audiences'), preset?.audiences ?? []);
  if (!audience && audiences.length === 0 && !preset?.noAudience && !forwardAuthOptions?.audienceFromPath) {
    verifierNode.fail(
      'audience',
      preset
        ? `is required: the audience of this application's tokens (${provider!.name}: set it in provider.options, or audiences: [...])`
        : 'is required: the URL the signers address this verifier by, e.g. https://api.example.com/ (or audiences: [opaque aud values], e.g. an Access AUD tag)',
    );
  }
  if (forwardAuthOptions?.audienceFromPath) {
    // The path names the audience: it may only pick one of a list the operator wrote.
    if (audience) verifierNode.fail('audience', 'with forward_auth.audience_from_path the path names the audience: list the ones it may name in audiences instead');
    if (audiences.length === 0) verifierNode.fail('audiences', 'is required with forward_auth.audience_from_path: the audiences the path may name (e.g. the AUD tags of your Access applications)');
  }
  // A verifier in the Go jwtproxy's shape (a URL audience, no provider) keeps the Go verifier's exact checks.
  const goProfile = !preset && audiences.length === 0;
  const singleUse = verifierNode.boolean('single_use', goProfile || !preset);
  if (!singleUse && verifierNode.has('nonce_storage')) {
    verifierNode.fail('nonce_storage', 'single_use: false keeps no nonces (tokens are reusable until exp); remove nonce_storage, or set single_use: true');
  }
  const maxSkewMs = verifierNode.duration('max_skew', 60_000, { nonNegative: true });
  const maxTtlMs = verifierNode.duration('max_ttl', goProfile ? 300_000 : 0, { nonNegative: true });
  const issuers = verifierNode.has('issuers') ? verifierNode.stringList('issuers') : (verifierNode.raw('issuers'), preset?.issuers ?? []);
  const claims: ClaimRules = {
    audience: audience ? `${audience.protocol}//${audience.host}`.toLowerCase() : undefined,
    audiences: audiences.length ? new Set(audiences) : undefined,
    issuers: issuers.length ? new Set(issuers) : undefined,
    maxSkewMs,
    maxTtlMs,
    times: goProfile ? 'go' : 'tolerant',
    requireJti: singleUse,
    requiredClaims: [...new Set([...(preset?.requiredClaims ?? []), ...verifierNode.stringList('required_claims')])],
  };
  const algorithms = parseAlgorithms(verifierNode, preset);
  const claimsHeader = verifierNode.headerName('claims_header', RESERVED_HEADERS);
  const claimsToHeaders = parseClaimsToHeaders(verifierNode, claimsHeader);
  const verifier = {
    upstreams: forwardAuth ? [] : parseUpstreams(verifierNode),
    forwardAuth,
    forwardAuthOptions: forwardAuthOptions ?? { gateway: 'auto' },
    upstreamFailureTimeoutMs: verifierNode.duration('upstream_failure_timeout', 10_000, { nonNegative: true }),
    upstreamTimeouts: {
      connectMs: verifierNode.duration('upstream_connect_timeout', 5_000, { positive: true, timer: true }),
      responseMs: verifierNode.duration('upstream_response_timeout', 60_000, { nonNegative: true, timer: true }),
      bodyMs: verifierNode.duration('upstream_body_timeout', 300_000, { nonNegative: true, timer: true }),
    },
    trustedProxies: parseTrustedProxies(verifierNode),
    onlyFromTrustedProxies: parseOnlyFromTrustedProxies(verifierNode),
    upstreamInsecureSkipVerify: verifierNode.boolean('upstream_insecure_skip_verify', false),
    upstreamTrustedCertificates: parseTrustedCertificates(verifierNode, 'upstream_trusted_certificates'),
    audience,
    maxSkewMs,
    maxTtlMs,
    keyServer: parseKeyServer(verifierNode, preset),
    nonceStorage: singleUse ? parseNonceStorage(verifierNode) : undefined,
    claimsVerifiers: verifierNode.children('claims_verifiers').map(parseClaimsVerifier),
    claimsHeader,
    rules: {
      claims,
      tokenSources: parseTokenSources(verifierNode, preset),
      algorithms: algorithms ? new Set(algorithms) : undefined,
      expectedSigner: preset?.expectedSigner,
      paddedSegments: preset?.paddedSegments,
    },
    provider: provider?.name,
    providerHeaders: preset?.headers,
    claimsToHeaders,
    refusalStyle: verifierNode.choice('refusal_format', ['go', 'rfc6750'] as const, 'go'),
    authRedirectUrl: verifierNode.has('auth_redirect_url') ? verifierNode.httpUrl('auth_redirect_url', 'the login URL browsers are sent to') : (verifierNode.raw('auth_redirect_url'), undefined),
    publicBasePath: parsePublicBasePath(verifierNode),
    excludes: parseExcludes(verifierNode),
    tokenCacheEntries: singleUse ? 0 : verifierNode.child('token_cache').integer('max_entries', DEFAULT_TOKEN_CACHE_ENTRIES, 0, 10_000_000),
    identity: parseIdentity(verifierNode, preset),
    clientCertificates: parseClientCertificates(
      verifierNode,
      claimsToHeaders.map(({ header }) => header),
      RESERVED_HEADERS,
    ),
  };
  if (singleUse) verifierNode.raw('token_cache');
  checkDecisionHeaders(verifierNode, verifier.claimsVerifiers, claimsHeader, verifier.claimsToHeaders);
  verifierNode.done();
  node.done();
  if (!enabled) node.dropPrerequisites();
  return { enabled, ...listener, verifier };
}

/** A header has one source: an authorizer's decision may not set one that claims_header or claims_to_headers writes. */
function checkDecisionHeaders(node: ConfigNode, verifiers: ClaimsVerifierConfig[], claimsHeader: string | undefined, mapped: HeaderMapping[]): void {
  const taken = new Map<string, string>(mapped.map(({ header }) => [header, `claims_to_headers.${header}`]));
  if (claimsHeader) taken.set(claimsHeader, 'claims_header');
  verifiers.forEach((verifier, index) => {
    if (verifier.type !== 'http') return;
    verifier.upstreamHeaders.forEach((header, at) => {
      const owner = taken.get(header);
      if (owner) node.fail(`claims_verifiers[${index}].options.upstream_headers[${at}]`, `${JSON.stringify(header)} is already written by ${owner}; a header has one source`);
    });
  });
}

/** `forward_auth: true`, or a mapping of its options; undefined when off. */
function parseForwardAuth(verifier: ConfigNode): ForwardAuthConfig | undefined {
  const value = verifier.raw('forward_auth');
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return { gateway: 'auto' };
  const options = verifier.child('forward_auth');
  if (!options.boolean('enabled', true)) return (options.done(), undefined);
  const gateway = options.choice('gateway', ['auto', 'traefik', 'nginx', 'envoy'] as const, 'auto');
  const prefix = options.string('audience_from_path');
  if (prefix !== undefined && !/^\/([^/]+\/)*$/.test(prefix)) options.fail('audience_from_path', `${JSON.stringify(prefix)} must be a path prefix ending in "/", e.g. /auth/`);
  options.done();
  return { gateway, audienceFromPath: prefix };
}

function parseProvider(verifier: ConfigNode): { name: string; preset: ProviderPreset } | undefined {
  const component = verifier.component('provider', PROVIDER_NAMES);
  if (!component) return undefined;
  const preset = PROVIDER_TYPES[component.type].parse(component.options);
  component.options.done();
  return { name: component.type, preset };
}

function parseAlgorithms(verifier: ConfigNode, preset: ProviderPreset | undefined): VerificationAlgorithm[] | undefined {
  if (!verifier.has('algorithms')) return (verifier.raw('algorithms'), preset?.algorithms);
  const list = verifier.stringList('algorithms');
  list.forEach((name, index) => {
    if (!(VERIFICATION_ALGORITHMS as readonly string[]).includes(name)) {
      verifier.fail(`algorithms[${index}]`, `${JSON.stringify(name)} is not supported; use ${VERIFICATION_ALGORITHMS.join(', ')} (the key still decides)`);
    }
  });
  if (list.length === 0) verifier.fail('algorithms', `must name at least one of ${VERIFICATION_ALGORITHMS.join(', ')}`);
  return list as VerificationAlgorithm[];
}

function parseTokenSources(verifier: ConfigNode, preset: ProviderPreset | undefined): readonly TokenSource[] {
  const raw = verifier.raw('token_sources');
  if (raw === undefined || raw === null) return preset?.tokenSources ?? AUTHORIZATION_ONLY;
  if (!Array.isArray(raw) || raw.length === 0) verifier.fail('token_sources', 'expected a list: authorization, {header: NAME}, {cookie: NAME}, {query: NAME}');
  return raw.map((item, index): TokenSource => {
    const where = `token_sources[${index}]`;
    if (item === 'authorization') return { type: 'authorization' };
    const node = ConfigNode.of(typeof item === 'object' && !Array.isArray(item) ? item : { [String(item)]: undefined }, verifier.at(where));
    const kinds = node.keys();
    if (kinds.length !== 1 || !['header', 'cookie', 'query'].includes(kinds[0])) {
      verifier.fail(where, `${JSON.stringify(item)} is not a token source: use authorization, {header: NAME}, {cookie: NAME} or {query: NAME}`);
    }
    const type = kinds[0] as 'header' | 'cookie' | 'query';
    const name = type === 'header' ? node.headerName(type) : node.string(type);
    if (!name) return node.fail(type, 'needs a name');
    if (type === 'header' && RESERVED_HEADERS.includes(name)) node.fail(type, `${JSON.stringify(name)} is not a token header; use authorization for the Authorization header`);
    return { type, name } as TokenSource;
  });
}

function parseClaimsToHeaders(verifier: ConfigNode, claimsHeader: string | undefined): HeaderMapping[] {
  const mapping = verifier.child('claims_to_headers');
  const seen = new Map<string, string>();
  return mapping.keys().map((name) => {
    const header = mapping.checkHeaderName(name, name, RESERVED_HEADERS);
    if (header === claimsHeader) mapping.fail(name, 'is the claims_header already; choose another name');
    const twin = seen.get(header);
    if (twin !== undefined) mapping.fail(name, `is the same header as ${JSON.stringify(twin)} ("_" and "-" are one header to CGI-style applications); keep one of them`);
    seen.set(header, name);
    const source = mapping.requiredString(name, 'a CEL expression, e.g. claims.email');
    return { header, expression: CelExpression.compile(source, mapping.at(name)) };
  });
}

function parseTrustedCertificates(verifier: ConfigNode, key: string): string[] {
  const files = verifier.stringList(key);
  files.forEach((file, index) => verifier.requires(`${key}[${index}]`, { kind: 'file', path: file, holds: 'trusted_certificates' }));
  return files;
}

function parseOnlyFromTrustedProxies(verifier: ConfigNode): boolean {
  const only = verifier.boolean('only_from_trusted_proxies', false);
  if (only && verifier.stringList('trusted_proxies').length === 0) {
    verifier.fail('only_from_trusted_proxies', "needs trusted_proxies: the addresses (CIDR) of the proxies in front, e.g. the load balancer's subnets [10.0.0.0/16]");
  }
  return only;
}

function parseTrustedProxies(verifier: ConfigNode): TrustedProxies {
  const entries = verifier.stringList('trusted_proxies');
  if (entries.length === 0) return TRUST_NO_PROXY;
  return new TrustedProxies(
    entries.map((entry, index) => {
      const range = parseProxyRange(entry.trim());
      if (!range)
        verifier.fail(`trusted_proxies[${index}]`, `${JSON.stringify(entry)} is not an IP address or CIDR range: write e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8, or unix for peers on a unix socket`);
      return range;
    }),
  );
}

function parsePublicBasePath(verifier: ConfigNode): string {
  const path = verifier.string('public_base_path', '');
  if (path && !path.startsWith('/')) verifier.fail('public_base_path', `${JSON.stringify(path)} must start with "/"`);
  return path.replace(/\/+$/, '');
}

function parseExcludes(verifier: ConfigNode): { path: string; prefix: boolean }[] {
  return verifier.stringList('excludes').map((entry, index) => {
    if (!entry.startsWith('/')) verifier.fail(`excludes[${index}]`, `${JSON.stringify(entry)} must be a path starting with "/" (a trailing * makes it a prefix)`);
    const prefix = entry.endsWith('*');
    return { path: prefix ? entry.slice(0, -1) : entry, prefix };
  });
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

function parseKeyServer(verifier: ConfigNode, preset: ProviderPreset | undefined): KeyServerConfig {
  const component = verifier.component('key_server', KEY_SERVER_NAMES);
  if (!component) {
    if (preset) return preset.keyServer;
    verifier.fail('key_server', `is required: {type: ${KEY_SERVER_NAMES.join('|')}, options: {...}}`);
  }
  const config = KEY_SERVER_TYPES[component.type].parse(component.options);
  component.options.done();
  return config;
}

function parseNonceStorage(verifier: ConfigNode): NonceStorageConfig {
  const component = verifier.component('nonce_storage', NONCE_STORAGE_NAMES, 'local')!;
  const config = NONCE_STORAGE_TYPES[component.type].parse(component.options);
  component.options.done();
  return config;
}

export function parseClaimsVerifier(node: ConfigNode): ClaimsVerifierConfig {
  const type = node.string('type');
  if (!type) node.fail('type', `is required: one of ${CLAIMS_VERIFIER_NAMES.join(', ')}`);
  if (!(CLAIMS_VERIFIER_NAMES as string[]).includes(type)) {
    node.fail('type', `unknown type ${JSON.stringify(type)}; expected one of ${CLAIMS_VERIFIER_NAMES.join(', ')}`);
  }
  const config = CLAIMS_VERIFIER_TYPES[type as ClaimsVerifierConfig['type']].parse(node);
  node.done();
  return config;
}
