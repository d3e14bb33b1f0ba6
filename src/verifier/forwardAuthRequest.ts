// The request a gateway asks about, per forward-auth contract: Traefik ForwardAuth sends it
// in X-Forwarded-Method/-Proto/-Host/-Uri (Traefik sets them all itself), nginx auth_request
// in X-Original-URI, -Method, -Host and -Proto (set by proxy_set_header in the auth location,
// which replaces a client's copy; nginx passes a client's own X-Forwarded-Host through, so it is
// never read), Envoy ext_authz as the request itself (its Host, its path after any prefix). With `audience_from_path`, the path segment after that prefix is the audience
// the token must carry (Traefik `address: http://jwtproxy/auth/<AUD>`).
import type { IncomingMessage } from 'node:http';
import type { ForwardAuthConfig } from './verifierConfig';

export type Gateway = 'traefik' | 'nginx' | 'envoy';

export interface OriginalRequest {
  gateway: Gateway;
  method: string;
  /** Path and query of the original request. */
  url: string;
  host: string;
  /** The original request's scheme, when the gateway says it and it is http or https. */
  proto?: 'http' | 'https';
  /** The audience named by the path, when configured. */
  audience?: string;
}

/** Thrown inside originalRequest for a contract header sent twice: which copy the gateway set cannot be told. */
const REPEATED = Symbol('repeated');

/**
 * Why the original request cannot be read: the audience segment is missing, the gateway's
 * headers are not as its contract says (both Traefik's and nginx's, or none of the configured
 * one's), or nginx did not say the original host.
 */
export type UnreadableRequest = 'no_audience' | 'ambiguous' | 'no_host';

/** http or https; anything else is not a scheme a return URL may take. */
function scheme(value: string | undefined): 'http' | 'https' | undefined {
  const lower = value?.trim().toLowerCase();
  return lower === 'http' || lower === 'https' ? lower : undefined;
}

/**
 * The original request; a string when it cannot be read. Only the configured gateway's
 * headers are read: another contract's headers may come from the client (nginx and Traefik
 * pass the client's headers on), so with `auto` a request carrying both Traefik's and
 * nginx's is refused rather than guessed.
 */
export function originalRequest(req: IncomingMessage, options: ForwardAuthConfig): OriginalRequest | UnreadableRequest {
  try {
    return readOriginal(req, options);
  } catch (error) {
    if (error === REPEATED) return 'ambiguous';
    throw error;
  }
}

function readOriginal(req: IncomingMessage, options: ForwardAuthConfig): OriginalRequest | UnreadableRequest {
  const distinct = req.headersDistinct;
  const single = (name: string): string | undefined => {
    const values = distinct[name];
    if (values === undefined) return undefined;
    if (values.length > 1) throw REPEATED;
    return values[0];
  };
  let ownPath = req.url!;
  let audience: string | undefined;
  if (options.audienceFromPath) {
    if (!ownPath.startsWith(options.audienceFromPath)) return 'no_audience';
    const rest = ownPath.slice(options.audienceFromPath.length);
    const end = rest.search(/[/?]/);
    const segment = end === -1 ? rest : rest.slice(0, end);
    try {
      audience = decodeURIComponent(segment);
    } catch {
      return 'no_audience';
    }
    if (!audience) return 'no_audience';
    ownPath = end === -1 || rest[end] === '?' ? `/${end === -1 ? '' : rest.slice(end)}` : rest.slice(end);
  }
  const { gateway } = options;
  const traefikUri = gateway === 'traefik' || gateway === 'auto' ? single('x-forwarded-uri') : undefined;
  const nginxUri = gateway === 'nginx' || gateway === 'auto' ? single('x-original-uri') : undefined;
  if (traefikUri !== undefined && nginxUri !== undefined) return 'ambiguous';
  if (traefikUri !== undefined) {
    const host = single('x-forwarded-host') ?? single('host') ?? '';
    return { gateway: 'traefik', method: single('x-forwarded-method') ?? 'GET', url: traefikUri, host, proto: scheme(single('x-forwarded-proto')), audience };
  }
  if (nginxUri !== undefined) {
    const host = single('x-original-host');
    if (host === undefined) return 'no_host';
    return { gateway: 'nginx', method: single('x-original-method') ?? 'GET', url: nginxUri, host, proto: scheme(single('x-original-proto')), audience };
  }
  // A configured Traefik or nginx always sends its headers: without them the request is not theirs.
  if (gateway === 'traefik' || gateway === 'nginx') return 'ambiguous';
  // Envoy sends the original Host as the check request's own; an X-Forwarded-Proto it set (edge: use_remote_address).
  return { gateway: 'envoy', method: req.method ?? 'GET', url: ownPath, host: single('host') ?? '', proto: scheme(single('x-forwarded-proto')), audience };
}
