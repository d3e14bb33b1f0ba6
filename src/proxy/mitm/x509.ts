// X.509 v3 certificates as DER: the TBS is built with node-forge's ASN.1 encoder and signed with
// node:crypto on the libuv pool (forge's own signer is pure JS and RSA-only).
import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as net from 'node:net';
import forge from 'node-forge';

type Asn1 = forge.asn1.Asn1;
const { asn1 } = forge;
const { UNIVERSAL, CONTEXT_SPECIFIC } = asn1.Class;
const T = asn1.Type;

const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
} as const;

/** RFC 5280 key usage bits, as the first byte of the BIT STRING (bit 0 is 0x80). */
export const KeyUsage = { digitalSignature: 0x80, keyEncipherment: 0x20, keyCertSign: 0x04, cRLSign: 0x02 } as const;

export interface CertificateFields {
  /** Positive and minimally encoded: see randomSerialNumber. */
  serialNumber: Buffer;
  /** DER Names, copied as they are: a leaf's issuer must be byte-identical to its CA's subject. */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  subjectPublicKeyInfo: Buffer;
  /** DER Extension elements, from the builders below. */
  extensions: Buffer[];
}

const toBytes = (buffer: Buffer): string => buffer.toString('binary');
const fromBytes = (bytes: string): Buffer => Buffer.from(bytes, 'binary');
const der = (node: Asn1): Buffer => fromBytes(asn1.toDer(node).getBytes());
// decodeBitStrings off: a BIT STRING (a public key, a signature) is data, not nested ASN.1.
const parse = (buffer: Buffer): Asn1 => asn1.fromDer(toBytes(buffer), { decodeBitStrings: false } as unknown as boolean);

const sequence = (items: Asn1[]): Asn1 => asn1.create(UNIVERSAL, T.SEQUENCE, true, items);
const oid = (dotted: string): Asn1 => asn1.create(UNIVERSAL, T.OID, false, asn1.oidToDer(dotted).getBytes());
const octets = (buffer: Buffer): Asn1 => asn1.create(UNIVERSAL, T.OCTETSTRING, false, toBytes(buffer));

// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
function time(date: Date): Asn1 {
  return date.getUTCFullYear() < 2050 ? asn1.create(UNIVERSAL, T.UTCTIME, false, asn1.dateToUtcTime(date)) : asn1.create(UNIVERSAL, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function signatureAlgorithm(key: KeyObject): Asn1 {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return sequence([oid(OID.sha256WithRSAEncryption), asn1.create(UNIVERSAL, T.NULL, false, '')]);
    case 'ec':
      return sequence([oid(OID.ecdsaWithSHA256)]);
    default:
      throw new Error(`cannot sign certificates with a ${key.asymmetricKeyType} key; use RSA or EC`);
  }
}

/** Builds the TBS, signs it with SHA-256 on the libuv pool, and returns the certificate DER. */
export async function buildCertificate(fields: CertificateFields, issuerKey: KeyObject): Promise<Buffer> {
  const algorithm = signatureAlgorithm(issuerKey);
  const tbs = sequence([
    asn1.create(CONTEXT_SPECIFIC, 0, true, [asn1.create(UNIVERSAL, T.INTEGER, false, asn1.integerToDer(2).getBytes())]),
    asn1.create(UNIVERSAL, T.INTEGER, false, toBytes(fields.serialNumber)),
    algorithm,
    parse(fields.issuer),
    sequence([time(fields.notBefore), time(fields.notAfter)]),
    parse(fields.subject),
    parse(fields.subjectPublicKeyInfo),
    asn1.create(CONTEXT_SPECIFIC, 3, true, [sequence(fields.extensions.map(parse))]),
  ]);
  const signature = await new Promise<Buffer>((resolve, reject) => crypto.sign('sha256', der(tbs), issuerKey, (error, result) => (error ? reject(error) : resolve(result))));
  const bitString = asn1.create(UNIVERSAL, T.BITSTRING, false, `\x00${toBytes(signature)}`);
  return der(sequence([tbs, algorithm, bitString]));
}

/** 16 random bytes, made positive and minimal (no leading zero byte): 126 bits of CSPRNG output. */
export function randomSerialNumber(randomBytes: (size: number) => Buffer): Buffer {
  const serial = Buffer.from(randomBytes(16));
  serial[0] = (serial[0] & 0x7f) | 0x40;
  return serial;
}

/** A Name of one CN, or the empty Name when commonName is undefined. */
export function distinguishedName(commonName?: string): Buffer {
  if (commonName === undefined) return der(sequence([]));
  const value = asn1.create(UNIVERSAL, T.UTF8, false, toBytes(Buffer.from(commonName, 'utf8')));
  return der(sequence([asn1.create(UNIVERSAL, T.SET, true, [sequence([oid(OID.commonName), value])])]));
}

export function subjectPublicKeyInfo(key: KeyObject): Buffer {
  return crypto.createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const bitString = (parse(spki).value as Asn1[])[1].value as string;
  return crypto
    .createHash('sha1')
    .update(fromBytes(bitString.slice(1)))
    .digest();
}

function extension(id: string, critical: boolean, value: Asn1): Buffer {
  const parts = [oid(id)];
  if (critical) parts.push(asn1.create(UNIVERSAL, T.BOOLEAN, false, '\xff'));
  parts.push(octets(der(value)));
  return der(sequence(parts));
}

/** CA certificates: cA true with a path length; leaves: cA false (the empty sequence). */
export function basicConstraintsExtension(ca: { pathLength: number } | undefined): Buffer {
  const value = ca ? [asn1.create(UNIVERSAL, T.BOOLEAN, false, '\xff'), asn1.create(UNIVERSAL, T.INTEGER, false, asn1.integerToDer(ca.pathLength).getBytes())] : [];
  return extension(OID.basicConstraints, true, sequence(value));
}

/** `bits` is an OR of KeyUsage values (all in the first byte). */
export function keyUsageExtension(bits: number): Buffer {
  // DER drops trailing zero bits and says how many it dropped in the first content byte.
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, asn1.create(UNIVERSAL, T.BITSTRING, false, String.fromCharCode(unused, bits)));
}

export function serverAuthExtension(): Buffer {
  return extension(OID.extKeyUsage, false, sequence([oid(OID.serverAuth)]));
}

export function subjectKeyIdentifierExtension(id: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octets(id));
}

export function authorityKeyIdentifierExtension(id: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, sequence([asn1.create(CONTEXT_SPECIFIC, 0, false, toBytes(id))]));
}

/**
 * One name: an IP literal becomes an iPAddress entry (clients never match IPs against dNSName),
 * anything else a dNSName. Critical when the subject is empty (RFC 5280 §4.2.1.6).
 */
export function subjectAltNameExtension(hostname: string, critical: boolean): Buffer {
  const ip = ipAddressBytes(hostname);
  const name = ip ? asn1.create(CONTEXT_SPECIFIC, 7, false, toBytes(ip)) : asn1.create(CONTEXT_SPECIFIC, 2, false, hostname);
  return extension(OID.subjectAltName, critical, sequence([name]));
}

/** The 4 or 16 bytes of an IP literal (IPv6 without brackets), or undefined for a name. */
export function ipAddressBytes(host: string): Buffer | undefined {
  if (net.isIPv4(host)) return Buffer.from(host.split('.').map(Number));
  if (!net.isIPv6(host) || host.includes('%')) return undefined;
  // The WHATWG URL serializer rewrites any IPv6 form (embedded IPv4 included) as compressed hex groups.
  const canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

export function toPem(certificateDer: Buffer): string {
  const lines = certificateDer.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** What a CA certificate tells a leaf about its issuer; read from the DER, since forge cannot parse EC certificates. */
export interface IssuerFacts {
  /** DER of the subject Name. */
  subject: Buffer;
  subjectKeyIdentifier?: Buffer;
  /** First byte of the keyUsage bits; undefined when the extension is absent (any usage). */
  keyUsage?: number;
}

export function readIssuerFacts(certificateDer: Buffer): IssuerFacts {
  const tbs = (parse(certificateDer).value as Asn1[])[0].value as Asn1[];
  // v1 certificates have no [0] version field before the serial number.
  const first = tbs[0];
  const offset = first.tagClass === CONTEXT_SPECIFIC && first.type === 0 ? 1 : 0;
  const facts: IssuerFacts = { subject: der(tbs[offset + 4]) };
  const extensions = tbs.find((node) => node.tagClass === CONTEXT_SPECIFIC && node.type === 3);
  if (!extensions) return facts;
  for (const ext of (extensions.value as Asn1[])[0].value as Asn1[]) {
    const parts = ext.value as Asn1[];
    const id = asn1.derToOid(parts[0].value as string);
    const value = parse(fromBytes(parts[parts.length - 1].value as string));
    if (id === OID.subjectKeyIdentifier) facts.subjectKeyIdentifier = fromBytes(value.value as string);
    if (id === OID.keyUsage) facts.keyUsage = (value.value as string).charCodeAt(1) || 0;
  }
  return facts;
}
