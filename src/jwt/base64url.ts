// base64url as JWTs and Go's JWKs use it. Go's URLEncoding pads with "=": accept both forms.

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Decodes base64url, padded or not; undefined when the text is not base64url. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

export function encodeBase64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Adds the "=" padding Go's base64.URLEncoding writes (kids and JWK members). */
export function padBase64url(text: string): string {
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

export function encodeBase64urlPadded(data: Buffer): string {
  return padBase64url(data.toString('base64url'));
}
