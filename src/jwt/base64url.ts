// base64url as JWTs and Go's JWKs use it. Go's URLEncoding pads JWK members with "=": they
// accept both forms. The segments of a compact JWS are strict (RFC 7515 §2): no padding, no
// whitespace, and canonical, so one token has exactly one spelling.

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const UNPADDED = /^[A-Za-z0-9_-]*$/;
const PADDED = /^[A-Za-z0-9_-]*(?:==?)?$/;

/** The value of each base64url digit by char code; -1 for the others. */
const DIGIT_VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((digit, value) => (DIGIT_VALUE[digit.charCodeAt(0)] = value));

/** Decodes base64url, padded or not; undefined when the text is not base64url. For JWK members. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  return Buffer.from(text, 'base64url');
}

export interface StrictBase64urlOptions {
  /** Accepts "=" padding too (AWS ALB pads its token segments); it must then be exact. */
  allowPadding?: boolean;
}

/**
 * Decodes a JWS segment; undefined unless the text is base64url without padding (or, with
 * allowPadding, exactly padded) and canonical: the unused low bits of the last digit are zero,
 * so encoding the bytes again gives back the same text.
 */
export function decodeBase64urlStrict(text: string, options: StrictBase64urlOptions = {}): Buffer | undefined {
  if (!(options.allowPadding ? PADDED : UNPADDED).test(text)) return undefined;
  let digits = text.length;
  if (options.allowPadding && text.charCodeAt(digits - 1) === 0x3d) {
    if (digits % 4 !== 0) return undefined;
    digits -= text.charCodeAt(digits - 2) === 0x3d ? 2 : 1;
  }
  // A last group of 2 digits holds 8 bits of 12, of 3 digits 16 bits of 18; 1 digit is never valid.
  const group = digits % 4;
  if (group === 1) return undefined;
  if (group !== 0) {
    const unusedBits = group === 2 ? 0x0f : 0x03;
    if ((DIGIT_VALUE[text.charCodeAt(digits - 1)] & unusedBits) !== 0) return undefined;
    // Padding, when there is some, must be exactly what completes the last group.
    if (digits !== text.length && text.length - digits !== 4 - group) return undefined;
  } else if (digits !== text.length) {
    return undefined;
  }
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
