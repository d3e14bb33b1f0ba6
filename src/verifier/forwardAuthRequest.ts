// The request a gateway asks about, per forward-auth contract (C7): Traefik ForwardAuth
// sends it in X-Forwarded-Method/-Proto/-Host/-Uri, nginx auth_request in X-Original-URI
// and X-Original-Method, Envoy ext_authz as the request itself (its path after any
// prefix). With `audience_from_path`, the path segment after that prefix is the audience
// the token must carry (Traefik `address: http://jwtproxy/auth/<AUD>`).
import type { IncomingMessage } from 'node:http';
import type { ForwardAuthConfig } from '../config/types';

export type Gateway = 'traefik' | 'nginx' | 'envoy';

export interface OriginalRequest {
  gateway: Gateway;
  method: string;
  /** Path and query of the original request. */
  url: string;
  host: string;
  proto?: string;
  /** The audience named by the path, when configured. */
  audience?: string;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Why the original request cannot be read: the audience segment is missing, or the gateway's headers are not as its contract says (both Traefik's and nginx's, or none of the configured one's). */
export type UnreadableRequest = 'no_audience' | 'ambiguous';

/**
 * The original request; a string when it cannot be read. Only the configured gateway's
 * headers are read: another contract's headers may come from the client (nginx and Traefik
 * pass the client's headers on), so with `auto` a request carrying both Traefik's and
 * nginx's is refused rather than guessed.
 */
export function originalRequest(req: IncomingMessage, options: ForwardAuthConfig): OriginalRequest | UnreadableRequest {
  const { headers } = req;
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
  const host = single(headers['x-forwarded-host']) ?? headers.host ?? '';
  const { gateway } = options;
  const traefikUri = gateway === 'traefik' || gateway === 'auto' ? single(headers['x-forwarded-uri']) : undefined;
  const nginxUri = gateway === 'nginx' || gateway === 'auto' ? single(headers['x-original-uri']) : undefined;
  if (traefikUri !== undefined && nginxUri !== undefined) return 'ambiguous';
  if (traefikUri !== undefined) {
    return { gateway: 'traefik', method: single(headers['x-forwarded-method']) ?? 'GET', url: traefikUri, host, proto: single(headers['x-forwarded-proto']), audience };
  }
  if (nginxUri !== undefined) {
    return { gateway: 'nginx', method: single(headers['x-original-method']) ?? 'GET', url: nginxUri, host, proto: single(headers['x-forwarded-proto']), audience };
  }
  // A configured Traefik or nginx always sends its headers: without them the request is not theirs.
  if (gateway === 'traefik' || gateway === 'nginx') return 'ambiguous';
  return { gateway: 'envoy', method: req.method ?? 'GET', url: ownPath, host, proto: single(headers['x-forwarded-proto']), audience };
}
