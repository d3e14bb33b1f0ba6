// Headers the proxies set, the gateways' forward-auth contracts carry, or that frame the message:
// no identity header may take their names, in any spelling ("_" for "-", any case).

export const RESERVED_HEADERS = [
  'host',
  'authorization',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  'expect',
  'cookie',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-authorization',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-original-uri',
  'x-original-method',
  'x-original-host',
  'x-original-proto',
];

/** Families of names the message framing owns: Content-Encoding, Content-Range… */
const RESERVED_PREFIXES = ['content-'];

/** Whether a canonical header name (lower case, "-") is one of `reserved`, or of the Content-* family when `reserved` is RESERVED_HEADERS. */
export function isReservedHeader(name: string, reserved: readonly string[]): boolean {
  return reserved.includes(name) || (reserved === RESERVED_HEADERS && RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix)));
}
