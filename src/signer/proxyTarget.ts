// Where a forward-proxy request goes, read from its absolute-URI request target
// (`GET http://host:port/path HTTP/1.1`). The audience keeps the authority as the client
// wrote it, port included, as the Go signer does: `http://127.0.0.1:18081`.

export interface ProxyTarget {
  /** scheme://host[:port] to connect to. */
  origin: string;
  /** scheme://host[:port] as written: the token's `aud`. */
  audience: string;
  /** The Host header sent on: the URI's authority, whatever Host the client wrote (RFC 9112 §3.2.2). */
  host: string;
  /** Origin-form path and query sent upstream. */
  path: string;
}

const ABSOLUTE_URI = /^(https?):\/\/([^/?#]*)([^#]*)/i;

/** undefined when `requestTarget` is not an http(s) absolute URI with a valid authority. */
export function parseProxyTarget(requestTarget: string): ProxyTarget | undefined {
  const match = ABSOLUTE_URI.exec(requestTarget);
  if (!match) return undefined;
  const scheme = match[1].toLowerCase();
  const authority = match[2].toLowerCase();
  // userinfo in a proxy request is a credential leak waiting to happen; refuse it.
  if (authority === '' || authority.includes('@')) return undefined;
  let url: URL;
  try {
    url = new URL(`${scheme}://${authority}`);
  } catch {
    return undefined;
  }
  const rest = match[3];
  const path = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
  return { origin: url.origin, audience: `${scheme}://${authority}`, host: authority, path };
}
