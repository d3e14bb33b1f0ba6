// How long a cache may reuse an HTTP response (RFC 9111 §4.2.1, §5.2.2), from its headers.
// Stale responses are never served, so must-revalidate and proxy-revalidate change nothing here.

export type ResponseHeaders = Record<string, string | string[] | undefined>;

const DIRECTIVE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?/g;

/** Cache-Control directives, lower-cased names; the first occurrence of a directive wins. */
export function parseCacheControl(value: string): Map<string, string | undefined> {
  const directives = new Map<string, string | undefined>();
  for (const match of value.matchAll(DIRECTIVE)) {
    const name = match[1].toLowerCase();
    if (!directives.has(name)) directives.set(name, match[2] ?? match[3]);
  }
  return directives;
}

function header(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Seconds as milliseconds; undefined when not a delta-seconds value. */
function deltaSecondsMs(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) * 1000 : undefined;
}

/**
 * Milliseconds the response may be reused from now: 0 when it must not be stored or reused,
 * undefined when the headers say nothing (the caller picks its own default).
 * Both max-age and s-maxage are honoured and the shorter wins: the verifier's cache serves
 * every client of the proxy, and a key must never be kept longer than either allows.
 * `headers` has lower-case names (as node:http and undici give them); `now` is the time of receipt (ms).
 */
export function httpFreshness(headers: ResponseHeaders, now: number): number | undefined {
  const cacheControl = header(headers, 'cache-control');
  const directives = cacheControl === undefined ? undefined : parseCacheControl(cacheControl);
  // A qualified no-cache="field" only forbids reusing those fields: we keep none of them.
  if (directives?.has('no-store') || (directives?.has('no-cache') && directives.get('no-cache') === undefined)) return 0;

  const age = deltaSecondsMs(header(headers, 'age')) ?? 0;
  if (directives?.has('max-age') || directives?.has('s-maxage')) {
    const lifetimes = ['max-age', 's-maxage']
      .filter((name) => directives.has(name))
      // An unparsable value makes the response stale (RFC 9111 §4.2.1).
      .map((name) => deltaSecondsMs(directives.get(name)) ?? 0);
    return Math.max(0, Math.min(...lifetimes) - age);
  }

  const expires = header(headers, 'expires');
  if (expires !== undefined) {
    // An invalid date, such as "0", means already expired.
    const expiresAt = Date.parse(expires);
    if (Number.isNaN(expiresAt)) return 0;
    // Relative to the server's own Date, so clock skew between us and the registry does not matter.
    const date = Date.parse(header(headers, 'date') ?? '');
    const generatedAt = Number.isNaN(date) ? now : date;
    return Math.max(0, expiresAt - generatedAt - age);
  }
  return undefined;
}
