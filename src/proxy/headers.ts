// Header handling shared by both proxies: hop-by-hop removal (RFC 9110 §7.6.1) and
// the conversion of Node's raw header list into what undici sends.
import type { IncomingHttpHeaders } from 'node:http';
import { canonicalHeaderName } from '../util/headerName';

/** Headers that describe one connection, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // undici speaks HTTP/1.1 and handles 100-continue itself.
  'expect',
  'http2-settings',
]);

/**
 * Headers that name the client's address, set by CDNs and proxies (Cloudflare, Akamai, Fastly,
 * nginx, Envoy, RFC 7239): believed upstream only from a trusted proxy, like X-Forwarded-For.
 */
export const CLIENT_ADDRESS_HEADERS = [
  'x-real-ip',
  'forwarded',
  'true-client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'x-client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-original-forwarded-for',
  'x-envoy-external-address',
] as const;

/**
 * Headers in which gateways pass on the client certificate they checked: an application that
 * reads them trusts the gateway, so they too pass on only from a trusted proxy. RFC 9440's
 * Client-Cert; Azure App Service; nginx, HAProxy and Cloud Foundry conventions. (Envoy's
 * X-Forwarded-Client-Cert is the verifier's own to set: always replaced.)
 */
export const CLIENT_CERTIFICATE_HEADERS = ['client-cert', 'client-cert-chain', 'x-arr-clientcert', 'x-client-verify', 'x-client-dn'] as const;

/**
 * Name prefixes of the same kind: ingress-nginx and Apache (`ssl-client-*`, `SSL_CLIENT_*`),
 * nginx and HAProxy (`x-ssl-*`), Google Cloud load balancers and Kong (`x-client-cert-*`), Traefik
 * (`x-forwarded-tls-client-cert*`), AWS ALB (`x-amzn-mtls-clientcert*`, `x-amzn-tls-*`), Cloudflare
 * (`cf-cert-*`, `cf-client-cert-*`).
 */
export const CLIENT_CERTIFICATE_HEADER_PREFIXES = [
  'ssl-client-',
  'x-ssl-',
  'x-client-cert',
  'x-forwarded-tls-client-cert',
  'x-amzn-mtls-clientcert',
  'x-amzn-tls-',
  'cf-cert-',
  'cf-client-cert-',
] as const;

const COMMON_CONNECTION = /^\s*(keep-alive|close|upgrade)\s*$/i;

/** The header names the Connection header lists: hop-by-hop for this message only. */
function connectionOptions(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  // The common values name only hop-by-hop headers dropped anyway: no set to build per request.
  if (typeof value === 'string' && COMMON_CONNECTION.test(value)) return undefined;
  const names = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const name = part.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/** Names the proxy drops from a client's request: exact (canonical) names, and prefixes of whole families. */
export interface DroppedHeaders {
  names: ReadonlySet<string>;
  /** Canonical prefixes, e.g. "x-pomerium-claim-". */
  prefixes?: readonly string[];
}

const dropsPrefix = (name: string, prefixes: readonly string[] | undefined): boolean => prefixes !== undefined && prefixes.some((prefix) => name.startsWith(prefix));

/** Whether `drop` names the canonical header `name`. */
export function dropsHeader(name: string, drop: DroppedHeaders): boolean {
  return drop.names.has(name) || dropsPrefix(name, drop.prefixes);
}

/**
 * Copies Node's rawHeaders (name, value, name, value…) into a flat list for undici, after the
 * headers already in `out`, leaving out hop-by-hop headers and the dropped names, compared in
 * their canonical spelling (so underscore spellings go too).
 */
export function forwardableRequestHeaders(rawHeaders: readonly string[], connection: string | string[] | undefined, drop?: ReadonlySet<string> | DroppedHeaders, out: string[] = []): string[] {
  const listed = connectionOptions(connection);
  const names = drop instanceof Set ? drop : (drop as DroppedHeaders | undefined)?.names;
  const prefixes = drop instanceof Set ? undefined : (drop as DroppedHeaders | undefined)?.prefixes;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = canonicalHeaderName(rawHeaders[i]);
    if (HOP_BY_HOP.has(name) || listed?.has(name) || names?.has(name) || dropsPrefix(name, prefixes)) continue;
    out.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return out;
}

/** The upstream's response headers minus hop-by-hop ones, for res.writeHead. */
export function forwardableResponseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = connectionOptions(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/**
 * Sets X-Forwarded-For, -Proto and -Host, as reverse proxies do. The client's X-Forwarded-For is
 * appended to only when its sender is `trusted` (a proxy in front of us); otherwise it is replaced.
 */
export function addForwardedHeaders(headers: string[], original: IncomingHttpHeaders, clientAddress: string | undefined, protocol: 'http' | 'https', trusted: boolean): void {
  const prior = trusted ? original['x-forwarded-for'] : undefined;
  const client = clientAddress ?? 'unknown';
  headers.push('x-forwarded-for', prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}` : client);
  headers.push('x-forwarded-proto', protocol);
  if (original.host) headers.push('x-forwarded-host', original.host);
}

/** Escapes non-ASCII so a JSON value is a valid header field value. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
