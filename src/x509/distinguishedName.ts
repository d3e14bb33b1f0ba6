// X.509 Names as RFC 4514 strings, written as OpenSSL's `-nameopt RFC2253` (and so Envoy's
// XFCC Subject) writes them — most specific RDN first, short names for the attribute types
// OpenSSL knows, others in dotted decimal with the value as #hex — except that UTF-8 is kept
// as it is. And the way back, far enough to find a name's CN.
import { DerError, DerReader, encoded, objectIdentifier, stringValue, Tag, type DerElement } from './der';

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

const COMMON_NAME = '2.5.4.3';

export interface DistinguishedName {
  /** RFC 4514, e.g. "CN=device-42,O=Example\, Inc.". */
  text: string;
  /** The most specific CN, when the name has one. */
  commonName?: string;
}

/** RFC 4514 §2.4: the characters a value escapes, a leading "#" or space, a trailing space, control characters as \XX. */
function escapeValue(value: string): string {
  const chars = [...value];
  return chars
    .map((c, i) => {
      if ('\\"+,;<>'.includes(c)) return `\\${c}`;
      const code = c.charCodeAt(0);
      if (code < 0x20 || code === 0x7f) return `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
      if ((i === 0 && (c === '#' || c === ' ')) || (i === chars.length - 1 && c === ' ')) return `\\${c}`;
      return c;
    })
    .join('');
}

/** Reads a DER Name (a SEQUENCE of RDN SETs of type-and-value SEQUENCEs). */
export function distinguishedName(name: DerElement): DistinguishedName {
  if (name.tag !== Tag.sequence) throw new DerError('a Name is a SEQUENCE');
  const rdns: string[] = [];
  let commonName: string | undefined;
  const names = DerReader.inside(name);
  while (names.more) {
    const attributes = DerReader.inside(names.next(Tag.set));
    const parts: string[] = [];
    while (attributes.more) {
      const pair = DerReader.inside(attributes.next(Tag.sequence));
      const type = objectIdentifier(pair.next(Tag.oid));
      const value = pair.next();
      const shortName = SHORT_NAMES[type];
      const text = stringValue(value);
      if (shortName && text !== undefined) {
        parts.push(`${shortName}=${escapeValue(text)}`);
        if (type === COMMON_NAME) commonName = text;
      } else {
        parts.push(`${shortName ?? type}=#${encoded(value).toString('hex').toUpperCase()}`);
      }
    }
    // RFC 4514 allows any order inside an RDN: OpenSSL's (reversed too) makes strings comparable with its output.
    rdns.push(parts.reverse().join('+'));
  }
  return { text: rdns.reverse().join(','), commonName };
}

/** Undoes RFC 4514 escapes: \c for a special character, \XX for a byte of UTF-8. */
function unescapeValue(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      const literal = c === '\\' && i + 1 < value.length ? value[++i] : c;
      bytes.push(...Buffer.from(literal, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The most specific CN of an RFC 4514 string (the first one written), or undefined. The
 * OpenSSL one-line form of Envoy's documentation examples ("/O=Lyft/CN=Test Client") is read too.
 */
export function commonNameOf(text: string): string | undefined {
  if (text.startsWith('/')) {
    const last = text
      .split('/')
      .reverse()
      .find((part) => /^CN=/i.test(part));
    return last?.slice(3);
  }
  // Split at unescaped "," and "+": each part is one type=value.
  let part = '';
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (i === text.length || c === ',' || c === '+') {
      const equals = part.indexOf('=');
      if (equals > 0 && part.slice(0, equals).trim().toUpperCase() === 'CN') {
        const value = part.slice(equals + 1);
        return value.startsWith('#') ? undefined : unescapeValue(value);
      }
      part = '';
    } else if (c === '\\' && i + 1 < text.length) {
      part += c + text[++i];
    } else {
      part += c;
    }
  }
  return undefined;
}
