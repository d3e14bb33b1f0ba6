// A request sent the way a client configured with an HTTP proxy sends it: to the proxy, with the
// absolute URI of the target as request target and the target's authority as Host.
import { httpRequest, type Answer, type RequestOptions } from './httpRequest';

/** `proxyUrl` is http://host:port or unix:/path; `targetUrl` an absolute http:// URL. */
export function proxyRequest(proxyUrl: string, targetUrl: string, options: Omit<RequestOptions, 'target'> = {}): Promise<Answer> {
  return httpRequest(proxyUrl, { ...options, target: targetUrl, headers: { host: new URL(targetUrl).host, ...options.headers } });
}
