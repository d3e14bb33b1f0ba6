// The DER Names that tie a CRL to its CA: the CRL's issuer and the CA certificate's subject,
// compared byte for byte as OpenSSL matches them.
import { DerReader, encoded, Tag } from './der';

/** The subject Name of a DER certificate. */
export function certificateSubject(der: Buffer): Buffer {
  const tbs = DerReader.inside(DerReader.inside(new DerReader(der).next(Tag.sequence)).next(Tag.sequence));
  tbs.optional(0xa0); // version
  tbs.next(Tag.integer); // serial
  tbs.next(Tag.sequence); // signature algorithm
  tbs.next(Tag.sequence); // issuer
  tbs.next(Tag.sequence); // validity
  return encoded(tbs.next(Tag.sequence));
}

/** The issuer Name of a DER CRL (RFC 5280 §5.1). */
export function crlIssuer(der: Buffer): Buffer {
  const tbs = DerReader.inside(DerReader.inside(new DerReader(der).next(Tag.sequence)).next(Tag.sequence));
  tbs.optional(Tag.integer); // version
  tbs.next(Tag.sequence); // signature algorithm
  return encoded(tbs.next(Tag.sequence));
}
