// URLs as they may appear in a log line or an error: a configured URL can carry credentials
// (https://user:secret@authorizer/) and a query can carry a token.

/** `url` without its user information, and with its query hidden. */
export function loggableUrl(url: URL | string): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const userinfo = parsed.username || parsed.password ? '…@' : '';
  const query = parsed.search ? '?…' : '';
  return `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}${query}`;
}
