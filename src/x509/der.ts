// A minimal DER reader for the parts of X.509 certificates and CRLs the proxy reads: one
// tag-length-value at a time, definite lengths only, bounds checked. Malformed input throws
// DerError; nothing here trusts a length it has not checked against the buffer.
import { JwtproxyError } from '../util/JwtproxyError';

export class DerError extends JwtproxyError {
  readonly code = 'ERR_DER_MALFORMED';
}

export const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  numericString: 0x12,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  visibleString: 0x1a,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One element: `tag` is the identifier octet; the content is bytes [start, end) of `der`. */
export interface DerElement {
  tag: number;
  der: Buffer;
  /** Where the element's identifier octet is. */
  offset: number;
  start: number;
  end: number;
}

export function content(element: DerElement): Buffer {
  return element.der.subarray(element.start, element.end);
}

/** The whole element, identifier and length octets included. */
export function encoded(element: DerElement): Buffer {
  return element.der.subarray(element.offset, element.end);
}

/** Reads the elements inside [start, end) of `der` in order. */
export class DerReader {
  private position: number;

  constructor(
    private readonly der: Buffer,
    start = 0,
    private readonly end = der.length,
  ) {
    this.position = start;
  }

  /** The elements inside a constructed element. */
  static inside(element: DerElement): DerReader {
    if ((element.tag & 0x20) === 0) throw new DerError(`element 0x${element.tag.toString(16)} is not constructed`);
    return new DerReader(element.der, element.start, element.end);
  }

  get more(): boolean {
    return this.position < this.end;
  }

  /** The next element's tag, without reading it; undefined at the end. */
  peekTag(): number | undefined {
    return this.more ? this.der[this.position] : undefined;
  }

  next(expectedTag?: number): DerElement {
    const offset = this.position;
    if (offset + 2 > this.end) throw new DerError('truncated element');
    const tag = this.der[offset];
    if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used in X.509');
    let length = this.der[offset + 1];
    let start = offset + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0) throw new DerError('indefinite lengths are not DER');
      if (octets > 4 || start + octets > this.end) throw new DerError('length out of range');
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + this.der[start + i];
      start += octets;
    }
    const end = start + length;
    if (end > this.end) throw new DerError('element longer than its container');
    this.position = end;
    if (expectedTag !== undefined && tag !== expectedTag) throw new DerError(`expected tag 0x${expectedTag.toString(16)}, got 0x${tag.toString(16)}`);
    return { tag, der: this.der, offset, start, end };
  }

  /** The next element when it has `tag`, else undefined (for OPTIONAL and DEFAULT fields). */
  optional(tag: number): DerElement | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }
}

/** An OBJECT IDENTIFIER in dotted decimal, e.g. "2.5.4.3". */
export function objectIdentifier(element: DerElement): string {
  const bytes = content(element);
  if (bytes.length === 0) throw new DerError('empty object identifier');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('object identifier arc too large');
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  if (bytes[bytes.length - 1] & 0x80) throw new DerError('truncated object identifier');
  return arcs.join('.');
}

/** UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5) as RFC 3339, e.g. "2026-12-01T08:44:05Z". */
export function time(element: DerElement): string {
  const text = content(element).toString('latin1');
  let match: RegExpExecArray | null;
  let year: string;
  if (element.tag === Tag.utcTime && (match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    year = `${Number(match[1]) >= 50 ? '19' : '20'}${match[1]}`;
  } else if (element.tag === Tag.generalizedTime && (match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text))) {
    year = match[1];
  } else {
    throw new DerError(`not a UTC time: ${JSON.stringify(text)}`);
  }
  return `${year}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`;
}

/** The text of an ASN.1 string type, or undefined for a value that is not a string. */
export function stringValue(element: DerElement): string | undefined {
  const bytes = content(element);
  switch (element.tag) {
    case Tag.utf8String:
      return bytes.toString('utf8');
    case Tag.printableString:
    case Tag.ia5String:
    case Tag.numericString:
    case Tag.visibleString:
    // T.61 is close enough to Latin-1 for the names certificates carry.
    case Tag.teletexString:
      return bytes.toString('latin1');
    case Tag.bmpString:
      return bytes.length % 2 === 0 ? Buffer.from(bytes).swap16().toString('utf16le') : undefined;
    case Tag.universalString: {
      if (bytes.length % 4 !== 0) return undefined;
      let text = '';
      for (let i = 0; i < bytes.length; i += 4) text += String.fromCodePoint(Math.min(bytes.readUInt32BE(i), 0x10ffff));
      return text;
    }
    default:
      return undefined;
  }
}
