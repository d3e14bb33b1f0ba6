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

/** The original request; undefined when the path lacks the configured audience segment. */
export function originalRequest(req: IncomingMessage, options: ForwardAuthConfig): OriginalRequest | undefined {
  const { headers } = req;
  let ownPath = req.url!;
  let audience: string | undefined;
  if (options.audienceFromPath) {
    if (!ownPath.startsWith(options.audienceFromPath)) return undefined;
    const rest = ownPath.slice(options.audienceFromPath.length);
    const end = rest.search(/[/?]/);
    const segment = end === -1 ? rest : rest.slice(0, end);
    try {
      audience = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (!audience) return undefined;
    ownPath = end === -1 || rest[end] === '?' ? `/${end === -1 ? '' : rest.slice(end)}` : rest.slice(end);
  }
  const host = single(headers['x-forwarded-host']) ?? headers.host ?? '';
  const traefikUri = single(headers['x-forwarded-uri']);
  if (traefikUri !== undefined) {
    return { gateway: 'traefik', method: single(headers['x-forwarded-method']) ?? 'GET', url: traefikUri, host, proto: single(headers['x-forwarded-proto']), audience };
  }
  const nginxUri = single(headers['x-original-uri']);
  if (nginxUri !== undefined) {
    return { gateway: 'nginx', method: single(headers['x-original-method']) ?? 'GET', url: nginxUri, host, proto: single(headers['x-forwarded-proto']), audience };
  }
  return { gateway: 'envoy', method: req.method ?? 'GET', url: ownPath, host, proto: single(headers['x-forwarded-proto']), audience };
}
