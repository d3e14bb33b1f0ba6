// The one spelling of a header name that the config reader and both proxies compare.

/**
 * A header name as the proxy compares it: lower case, "_" read as "-". CGI-style upstreams (PHP,
 * WSGI, Rack) read `X_Auth_Email` and `X-Auth-Email` as the same HTTP_X_AUTH_EMAIL, so the two
 * spellings are one header wherever the proxy strips, reserves or looks one up.
 */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replace(/_/g, '-') : lower;
}
