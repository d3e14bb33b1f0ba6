// A verifier's `identity` block: where the expanded identity of a token is fetched (a
// provider's own endpoint by default, e.g. Cloudflare's get-identity), how the token is sent,
// whether a request needs it, and how many are kept.
import type { ConfigNode } from '../config/ConfigNode';
import type { ProviderPreset } from '../providers/ProviderPreset';
import type { IdentityConfig } from './IdentityExpander';

const DEFAULT_CACHE_ENTRIES = 10_000;
const DEFAULT_TIMEOUT_MS = 2000;

/** Undefined when the verifier has no `identity` block (or `enabled: false`). */
export function parseIdentity(verifier: ConfigNode, preset: ProviderPreset | undefined): IdentityConfig | undefined {
  if (!verifier.has('identity')) return void verifier.raw('identity');
  const node: ConfigNode = verifier.child('identity');
  if (!node.boolean('enabled', true)) {
    node.keys().forEach((key) => node.raw(key));
    return undefined;
  }
  const url = node.has('url')
    ? node.httpUrl('url', 'the URL that answers the expanded identity of a token, e.g. https://<team>.cloudflareaccess.com/cdn-cgi/access/get-identity')
    : preset?.identity?.url;
  if (!url) {
    node.fail('url', 'is required: the URL that answers the expanded identity of a token (with provider: cloudflare_access it is <team_domain>/cdn-cgi/access/get-identity by default)');
  }
  const config: IdentityConfig = {
    url,
    sendToken: node.choice('send_token', ['cookie', 'bearer'] as const, preset?.identity?.sendToken ?? 'bearer'),
    required: node.boolean('required', true),
    cacheEntries: node.integer('cache_entries', DEFAULT_CACHE_ENTRIES, 1, 10_000_000),
    timeoutMs: node.duration('timeout', DEFAULT_TIMEOUT_MS, { positive: true }),
  };
  node.done();
  return config;
}
