// What policy, header mappings and certificate-bound tokens know of a client certificate,
// read from its DER: names as RFC 4514 strings, serial and fingerprint in hex, the RFC 8705
// thumbprint, SANs, validity in RFC 3339. Field names are the ones CEL expressions use.
import * as crypto from 'node:crypto';
import { content, DerError, DerReader, objectIdentifier, Tag, time } from './der';
import { distinguishedName } from './distinguishedName';

export interface CertificateFacts {
  /** RFC 4514, most specific first: "CN=device-42,O=Example". */
  subject: string;
  subject_cn?: string;
  /** Absent when a gateway reported the certificate without sending it (XFCC without Cert). */
  issuer?: string;
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  serial?: string;
  /** SHA-256 of the DER, lower-case hex (Envoy's XFCC Hash). */
  fingerprint_sha256: string;
  /** RFC 8705 §3.1: base64url of the SHA-256 of the DER, what cnf["x5t#S256"] holds. */
  x5t_s256: string;
  san_dns: string[];
  san_uri: string[];
  san_email: string[];
  not_before?: string;
  not_after?: string;
}

const SUBJECT_ALT_NAME = '2.5.29.17';
const GENERAL_NAME = { rfc822Name: 0x81, dNSName: 0x82, uniformResourceIdentifier: 0x86 } as const;

/** The fingerprint forms of a certificate whose SHA-256 digest is `digest`. */
export function fingerprints(digest: Buffer): Pick<CertificateFacts, 'fingerprint_sha256' | 'x5t_s256'> {
  return { fingerprint_sha256: digest.toString('hex'), x5t_s256: digest.toString('base64url') };
}

function serialHex(bytes: Buffer): string {
  // DER adds a 0x00 to keep a serial positive; `openssl x509 -serial` does not print it.
  const value = bytes.length > 1 && bytes[0] === 0 ? bytes.subarray(1) : bytes;
  return value.toString('hex').toUpperCase();
}

function alternativeNames(extensions: DerReader, facts: CertificateFacts): void {
  while (extensions.more) {
    const extension = DerReader.inside(extensions.next(Tag.sequence));
    if (objectIdentifier(extension.next(Tag.oid)) !== SUBJECT_ALT_NAME) continue;
    extension.optional(Tag.boolean);
    const value = content(extension.next(Tag.octetString));
    const names = DerReader.inside(new DerReader(value).next(Tag.sequence));
    while (names.more) {
      const name = names.next();
      const text = () => content(name).toString('latin1');
      if (name.tag === GENERAL_NAME.dNSName) facts.san_dns.push(text());
      else if (name.tag === GENERAL_NAME.uniformResourceIdentifier) facts.san_uri.push(text());
      else if (name.tag === GENERAL_NAME.rfc822Name) facts.san_email.push(text());
    }
  }
}

/** The facts of a DER certificate; throws DerError when it is not one. */
export function certificateFacts(der: Buffer): CertificateFacts {
  const certificate = new DerReader(der);
  const outer = certificate.next(Tag.sequence);
  if (certificate.more) throw new DerError('data after the certificate');
  const tbs = DerReader.inside(DerReader.inside(outer).next(Tag.sequence));
  tbs.optional(0xa0); // version
  const serial = content(tbs.next(Tag.integer));
  tbs.next(Tag.sequence); // signature algorithm
  const issuer = distinguishedName(tbs.next(Tag.sequence));
  const validity = DerReader.inside(tbs.next(Tag.sequence));
  const notBefore = time(validity.next());
  const notAfter = time(validity.next());
  const subject = distinguishedName(tbs.next(Tag.sequence));
  tbs.next(Tag.sequence); // subjectPublicKeyInfo
  const facts: CertificateFacts = {
    subject: subject.text,
    ...(subject.commonName !== undefined ? { subject_cn: subject.commonName } : {}),
    issuer: issuer.text,
    serial: serialHex(serial),
    ...fingerprints(crypto.createHash('sha256').update(der).digest()),
    san_dns: [],
    san_uri: [],
    san_email: [],
    not_before: notBefore,
    not_after: notAfter,
  };
  tbs.optional(0x81); // issuerUniqueID
  tbs.optional(0x82); // subjectUniqueID
  const extensions = tbs.optional(0xa3);
  if (extensions) alternativeNames(DerReader.inside(DerReader.inside(extensions).next(Tag.sequence)), facts);
  return facts;
}
