// The request as a verifier judges it and forwards it, computed once: method, normalised path,
// query, host, scheme, client address, client certificate, and the token with its carrier.
// Rules, excludes, forward-auth answers, upgrades, the authorizer's document, logs and the
// forwarded request all read this one view, so that what is judged is what the upstream gets:
// `/x/../admin`, `//admin` and `/%61dmin` are /admin for a rule exactly as for the upstream.
import type { IncomingMessage } from 'node:http';
import type { RequestFacts } from '../claims/ClaimsVerifier';
import { CLIENT_ADDRESS_HEADERS, CLIENT_CERTIFICATE_HEADER_PREFIXES, CLIENT_CERTIFICATE_HEADERS, dropsHeader, forwardableRequestHeaders, type DroppedHeaders } from '../proxy/headers';
import { isAmbiguousPath, normalizePath } from '../proxy/normalizePath';
import type { TrustedProxies } from '../proxy/TrustedProxies';
import type { CertificateFacts } from '../x509/CertificateFacts';
import type { ClientCertificateSource } from './ClientCertificateSource';
import { originalRequest, type Gateway, type UnreadableRequest } from './forwardAuthRequest';
import { canonicalParameterName, cookiePairs, findToken, queryPairs, sameCookieName, tokenFromAuthorization, type FoundToken, type TokenSource } from './tokenSources';
import type { VerifierConfig } from './verifierConfig';
import { canonicalHeaderName } from '../util/headerName';

/** What a request is, once, for every consumer. */
export interface RequestView extends RequestFacts {
  method: string;
  /** The normalised path (RFC 3986 §6.2.2, no dot segment), without the query: what the upstream is sent. */
  path: string;
  /** The path as the client sent it, for rules that want it; never what is forwarded. */
  rawPath: string;
  /** The query as forwarded, without "?": every token carrier parameter removed ('' when none). */
  query: string;
  /** Host as the upstream receives it (forward-auth: the original request's host per gateway contract). */
  host: string;
  /** Scheme of the client's request: this listener's, or a trusted proxy's (or gateway's) word for it. */
  scheme: 'http' | 'https';
  /** The host the client addressed: a trusted proxy's X-Forwarded-Host, else `host`. For return URLs. */
  publicHost: string;
  /** The client's address: the peer's, or the last untrusted hop of a trusted proxy's X-Forwarded-For. */
  client: string;
  /** The peer is one of trusted_proxies: its forwarded and client-address headers are believed. */
  fromTrustedProxy: boolean;
  /** Request headers as the upstream receives them (lower case, "_" read as "-"), before identity headers. */
  headers: Readonly<Record<string, string | undefined>>;
  clientCertificate?: CertificateFacts;
  token: FoundToken;
  /** The path may mean something else to the gateway (forward-auth: the raw path) or the upstream (the normalised one): isAmbiguousPath. Never excluded nor judged by a rule. */
  ambiguousPath: boolean;
  /** Forward-auth: whose contract the original request was read by. */
  gateway?: Gateway;
  /** Forward-auth with the audience in the path: the one audience the token must carry. */
  audience?: string;
}

/** A header value with the characters that a host name (or [v6]:port) may hold, else ''. */
const plausibleHost = (value: string | undefined): string => (value !== undefined && /^[A-Za-z0-9.\-:[\]]+$/.test(value) ? value : '');

/** The first value of a comma-separated forwarded header, as http or https. */
function forwardedScheme(value: string | string[] | undefined): 'http' | 'https' | undefined {
  const first = (Array.isArray(value) ? value[0] : value)?.split(',')[0].trim().toLowerCase();
  return first === 'http' || first === 'https' ? first : undefined;
}

/**
 * The client behind trusted proxies: X-Forwarded-For read from the right, the first hop that is
 * not itself a trusted proxy (each proxy appends the address it saw). Untrusted peers speak for themselves.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies, trustedPeer = trusted.trusts(peer)): string {
  const own = peer ?? 'unknown';
  if (forwardedFor === undefined || !trustedPeer) return own;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((hop) => hop.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.trusts(hops[i]) || i === 0) return hops[i];
  return own;
}

/** Removes every token carrier parameter (in any spelling an application may read as it) from a raw query, leaving the others as sent. */
function withoutQueryCarriers(query: string, names: readonly string[]): string {
  if (!query || names.length === 0) return query;
  const carriers = names.map(canonicalParameterName);
  const kept = query.split('&').map((part) =>
    part
      .split(';')
      .filter((pair) => {
        const [[name] = ['']] = queryPairs(pair);
        return !carriers.includes(canonicalParameterName(name));
      })
      .join(';'),
  );
  return kept.filter(Boolean).join('&');
}

export type UnreadableView = UnreadableRequest | 'proxy_form' | 'untrusted_peer';

/** Reads requests into views for one verifier: its carriers, trusted proxies, gateway contract and the headers it replaces. */
export class RequestReader {
  private readonly sources: readonly TokenSource[];
  private readonly headerCarriers: string[];
  private readonly cookieCarriers: string[];
  private readonly queryCarriers: string[];
  private readonly authorizationCarrier: boolean;
  private readonly trusted: TrustedProxies;
  /** Dropped whatever the peer: the proxy's own headers, token carriers, provider identity headers. */
  private readonly alwaysDropped: DroppedHeaders;
  /** Client-address and client-certificate headers: believed only from a trusted proxy. */
  private readonly trustedProxyOnly: DroppedHeaders;
  /** What is dropped from a peer that is not a trusted proxy: the above, and those always dropped. */
  private readonly untrustedDropped: DroppedHeaders;

  constructor(
    private readonly verifier: VerifierConfig,
    private readonly certificates: ClientCertificateSource,
    replaced: ReadonlySet<string>,
    provider: { prefixes: readonly string[]; fromTrustedProxyOnly?: readonly string[] } = { prefixes: [] },
  ) {
    this.sources = verifier.rules.tokenSources;
    this.trusted = verifier.trustedProxies;
    this.headerCarriers = this.sources.flatMap((source) => (source.type === 'header' ? [source.name] : []));
    this.cookieCarriers = this.sources.flatMap((source) => (source.type === 'cookie' ? [source.name] : []));
    this.queryCarriers = this.sources.flatMap((source) => (source.type === 'query' ? [source.name] : []));
    this.authorizationCarrier = this.sources.some((source) => source.type === 'authorization');
    // Host and X-Forwarded-* are the proxy's to set; the carriers are put back as verified.
    const names = new Set([...replaced, ...this.headerCarriers, 'host', 'authorization', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
    if (this.cookieCarriers.length > 0) names.add('cookie');
    this.alwaysDropped = { names, prefixes: provider.prefixes };
    this.trustedProxyOnly = { names: new Set([...CLIENT_ADDRESS_HEADERS, ...CLIENT_CERTIFICATE_HEADERS, ...(provider.fromTrustedProxyOnly ?? [])]), prefixes: CLIENT_CERTIFICATE_HEADER_PREFIXES };
    this.untrustedDropped = { names: new Set([...names, ...this.trustedProxyOnly.names]), prefixes: [...provider.prefixes, ...CLIENT_CERTIFICATE_HEADER_PREFIXES] };
  }

  /** The view of `req`, or why its forward-auth contract cannot be read. */
  read(req: IncomingMessage, ownScheme: 'http' | 'https'): RequestView | UnreadableView {
    const target = req.url;
    if (!target?.startsWith('/')) return 'proxy_form';
    const { forwardAuth, forwardAuthOptions } = this.verifier;
    const peer = req.socket.remoteAddress;
    const trustedPeer = this.trusted.trusts(peer);
    if (!trustedPeer && this.verifier.onlyFromTrustedProxies) return 'untrusted_peer';
    const original = forwardAuth ? originalRequest(req, forwardAuthOptions) : undefined;
    if (typeof original === 'string') return original;
    const url = original?.url ?? target;
    const queryAt = url.indexOf('?');
    const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
    const rawQuery = queryAt === -1 ? '' : url.slice(queryAt + 1);
    // Host names are case-insensitive (RFC 9110 §4.2.3): rules compare one spelling.
    const host = plausibleHost(original ? original.host : req.headers.host).toLowerCase();
    const forwardedHost = trustedPeer && !original ? plausibleHost(typeof req.headers['x-forwarded-host'] === 'string' ? req.headers['x-forwarded-host'].split(',')[0].trim() : undefined) : '';
    const scheme = original?.proto ?? (trustedPeer && !original ? forwardedScheme(req.headers['x-forwarded-proto']) : undefined) ?? ownScheme;
    let headers: Record<string, string | undefined> | undefined;
    const reader = this;
    const token = findToken(this.sources, { rawHeaders: req.rawHeaders, query: rawQuery });
    const path = normalizePath(rawPath);
    return {
      method: original?.method ?? req.method ?? 'GET',
      path,
      rawPath,
      query: withoutQueryCarriers(rawQuery, this.queryCarriers),
      host,
      scheme,
      publicHost: forwardedHost || host,
      client: clientAddress(peer, req.headers['x-forwarded-for'], this.trusted, trustedPeer),
      fromTrustedProxy: trustedPeer,
      get headers() {
        return (headers ??= reader.headerRecord(req, token.token, Boolean(original), trustedPeer));
      },
      clientCertificate: this.certificates.of(req),
      token,
      // A gateway routes the raw path itself; an upstream receives the normalised one.
      ambiguousPath: isAmbiguousPath(original !== undefined ? rawPath : path),
      gateway: original?.gateway,
      audience: original?.audience,
    };
  }

  /**
   * The client's headers as the upstream receives them, after `out` (Host and the proxy's own
   * come first): hop-by-hop and replaced ones left out, client-address headers only from a trusted
   * proxy, and of the token carriers only the copies of `verified` (one each): a carrier that held
   * another value, or any carrier when no token was verified (an excluded path), is stripped.
   */
  forwardedHeaders(req: IncomingMessage, verified: string | undefined, fromTrustedProxy: boolean, out: string[] = []): string[] {
    const { rawHeaders } = req;
    if (!this.authorizationCarrier) {
      if (req.headers.authorization !== undefined) out.push('authorization', req.headers.authorization);
    } else if (verified !== undefined) {
      for (let i = 0; i < rawHeaders.length; i += 2) {
        if (rawHeaders[i].toLowerCase() === 'authorization' && tokenFromAuthorization(rawHeaders[i + 1]) === verified) {
          out.push('authorization', rawHeaders[i + 1]);
          break;
        }
      }
    }
    if (verified !== undefined) for (const name of this.headerCarriers) if (this.holds(rawHeaders, name, verified)) out.push(name, verified);
    if (this.cookieCarriers.length > 0) {
      const cookie = this.forwardedCookie(rawHeaders, verified);
      if (cookie) out.push('cookie', cookie);
    }
    const dropped = fromTrustedProxy ? this.alwaysDropped : this.untrustedDropped;
    return forwardableRequestHeaders(rawHeaders, req.headers.connection, dropped, out);
  }

  private holds(rawHeaders: readonly string[], name: string, token: string): boolean {
    for (let i = 0; i < rawHeaders.length; i += 2) if (canonicalHeaderName(rawHeaders[i]) === name && rawHeaders[i + 1].trim() === token) return true;
    return false;
  }

  /** The client's cookies in one header, the carrier cookies left out but for one copy of each that held `verified`. */
  private forwardedCookie(rawHeaders: readonly string[], verified: string | undefined): string {
    const kept: string[] = [];
    const carried = new Set<string>();
    for (let i = 0; i < rawHeaders.length; i += 2) {
      if (rawHeaders[i].toLowerCase() !== 'cookie') continue;
      for (const pair of rawHeaders[i + 1].split(';')) {
        // Split on "," as legacy parsers do (tokenSources.cookiePairs): a pair hiding a carrier after a "," goes whole.
        const parts = [...cookiePairs(pair)];
        const carrierAt = (name: string) => this.cookieCarriers.find((carrierName) => sameCookieName(carrierName, name));
        const carrier = parts.length === 1 ? carrierAt(parts[0][0]) : undefined;
        const value = parts.length === 1 ? parts[0][1] : undefined;
        if (carrier === undefined) {
          if (pair.trim() && !parts.some(([name]) => carrierAt(name) !== undefined)) kept.push(pair.trim());
        } else if (verified !== undefined && value === verified && !carried.has(carrier)) {
          carried.add(carrier);
          kept.push(`${carrier}=${verified}`);
        }
      }
    }
    return kept.join('; ');
  }

  /** The headers a rule reads: the forwarded ones (forward-auth: the original request's, which the gateway passes on). */
  private headerRecord(req: IncomingMessage, verified: string | undefined, forwardAuth: boolean, fromTrustedProxy: boolean): Record<string, string | undefined> {
    // Forward-auth: the client's headers as the gateway relayed them, less those only a trusted proxy is believed on.
    const list = forwardAuth ? this.believedHeaders(req.rawHeaders, fromTrustedProxy) : this.forwardedHeaders(req, verified, fromTrustedProxy, req.headers.host ? ['host', req.headers.host] : []);
    const record: Record<string, string | undefined> = {};
    for (let i = 0; i < list.length; i += 2) {
      const name = canonicalHeaderName(list[i]);
      const previous = Object.hasOwn(record, name) ? record[name] : undefined;
      record[name] = previous === undefined ? list[i + 1] : `${previous}${name === 'cookie' ? '; ' : ', '}${list[i + 1]}`;
    }
    return record;
  }

  private believedHeaders(rawHeaders: readonly string[], fromTrustedProxy: boolean): readonly string[] {
    if (fromTrustedProxy) return rawHeaders;
    const believed: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) if (!dropsHeader(canonicalHeaderName(rawHeaders[i]), this.trustedProxyOnly)) believed.push(rawHeaders[i], rawHeaders[i + 1]);
    return believed;
  }
}
