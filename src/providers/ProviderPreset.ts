// What a provider preset fills in for a verifier behind that identity-aware proxy: where
// its token arrives, where its keys are, and what its tokens look like, as the provider's documents say. Every
// field can still be set explicitly in the verifier, which wins.
import type { ConfigNode } from '../config/ConfigNode';
import type { VerificationAlgorithm } from '../jwt/algorithms';
import type { Claims } from '../jwt/token';
import type { TokenSource } from '../verifier/tokenSources';
import type { IdentityConfig } from '../verifier/IdentityExpander';
import type { KeyServerConfig } from '../keys/keyServerTypes';

export interface ProviderPreset {
  tokenSources: TokenSource[];
  keyServer: KeyServerConfig;
  issuers: string[];
  /** Opaque audiences; empty where the provider sets none (AWS ALB). */
  audiences: string[];
  algorithms: VerificationAlgorithm[];
  /** Claims the provider's own rules require in every token, added to the verifier's `required_claims`. */
  requiredClaims?: string[];
  /** True where the provider's tokens carry no `aud` at all. */
  noAudience?: boolean;
  expectedSigner?: string;
  paddedSegments?: boolean;
  /** Where the provider answers a token's expanded identity, when it has such an endpoint (Cloudflare Access's get-identity). */
  identity?: Pick<IdentityConfig, 'url' | 'sendToken'>;
  /** The identity headers the provider sets on the requests it passes on. */
  headers: ProviderHeaders;
}

/**
 * Headers an identity-aware proxy adds to the requests it passes: behind a verifier a client
 * could send them itself next to a valid token. A client's copies are stripped; those the token
 * vouches for are set again from the verified claims, so applications that read them keep working.
 */
export interface ProviderHeaders {
  /** Canonical names (lower case, "-") and name prefixes stripped from every client request. */
  names: readonly string[];
  prefixes: readonly string[];
  /** Passed on only from a trusted proxy (trusted_proxies): headers the token cannot vouch for. */
  fromTrustedProxyOnly?: readonly string[];
  /** The headers set from a verified token's claims, as the provider sets them. */
  fromClaims?: (claims: Claims) => [string, string][];
}

/** `[name, value]` when the claim is a non-empty string. */
export function claimHeader(name: string, value: unknown, prefix = ''): [string, string][] {
  return typeof value === 'string' && value ? [[name, prefix + value]] : [];
}

export interface ProviderType {
  /** Reads the provider's own options (team domain, audience tag, region…). */
  parse(options: ConfigNode): ProviderPreset;
}

/** The defaults of a key set fetched from a URL, as the jwks key server takes them. */
export function jwksKeyServer(url: URL | undefined, issuers: string[], discoveryUrl?: URL): KeyServerConfig {
  return { type: 'jwks', url, discoveryUrl, issuers, refreshIntervalMs: 3_600_000, minRefetchIntervalMs: 30_000 };
}

/** An https origin from a bare host name or a URL (`myteam.cloudflareaccess.com` or `https://…`). */
export function originOption(options: ConfigNode, key: string, hint: string): URL {
  const text = options.requiredString(key, hint);
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    options.fail(key, `${JSON.stringify(text)} is not a host name or URL: ${hint}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') options.fail(key, `${JSON.stringify(text)} must be an https:// URL or a host name`);
  if (url.pathname !== '/' || url.search || url.hash) options.fail(key, `${JSON.stringify(text)} must be a host name, without a path`);
  return url;
}

/** An optional URL option that overrides a derived one (tests and private deployments point it at a local endpoint). */
export function urlOverride(options: ConfigNode, key: string, derived: () => URL): URL {
  return options.has(key) ? options.httpUrl(key, 'an http:// or https:// URL') : derived();
}
