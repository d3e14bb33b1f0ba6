// The MITM certificate authority: loaded from ca_key_file/ca_crt_file and checked once at start-up,
// or generated for the "generate a MITM CA" tool and for tests.
import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { systemClock, type Clock } from '../../util/clock';
import { parsePrivateKeyPem } from '../../keys/privateKeyPem';
import { JwtproxyError } from '../../util/JwtproxyError';
import { generatePrivateKey, type KeyAlgorithm } from './generatePrivateKey';
import {
  basicConstraintsExtension,
  buildCertificate,
  distinguishedName,
  keyIdentifier,
  KeyUsage,
  keyUsageExtension,
  randomSerialNumber,
  readIssuerFacts,
  subjectKeyIdentifierExtension,
  subjectPublicKeyInfo,
  toPem,
  type IssuerFacts,
} from './x509';

export type CertificateAuthorityErrorCode = 'ERR_MITM_CA_INVALID' | 'ERR_MITM_CA_EXPIRED';

export class CertificateAuthorityError extends JwtproxyError {
  constructor(
    readonly code: CertificateAuthorityErrorCode,
    message: string,
    /** The file at fault, when there is one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CertificateAuthorityFiles {
  keyFile: string;
  certFile: string;
}

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export class CertificateAuthority {
  private constructor(
    /** Signs forged leaves. */
    readonly privateKey: KeyObject,
    readonly certificate: crypto.X509Certificate,
    /** The CA certificate then any further certificates of ca_crt_file: sent after each forged leaf. */
    readonly chainPem: string,
    readonly issuer: IssuerFacts,
    readonly notBefore: Date,
    readonly notAfter: Date,
  ) {}

  /** Reads and checks the two PEM files; every error names the file at fault. */
  static async load(files: CertificateAuthorityFiles, clock: Clock = systemClock): Promise<CertificateAuthority> {
    const read = async (file: string, setting: string) => {
      try {
        return await readFile(file, 'utf8');
      } catch (error) {
        throw new CertificateAuthorityError('ERR_MITM_CA_INVALID', `${setting} ${file}: cannot read it: ${(error as Error).message}`, file, { cause: error });
      }
    };
    const [keyPem, certPem] = await Promise.all([read(files.keyFile, 'ca_key_file'), read(files.certFile, 'ca_crt_file')]);
    return CertificateAuthority.fromPem({ keyPem, certPem }, { ...files, clock });
  }

  /**
   * The key may be PKCS#1 ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"), unencrypted.
   * The certificate PEM may carry the CA's own issuers after it; they are sent as the chain.
   */
  static fromPem(pems: { keyPem: string; certPem: string }, options: Partial<CertificateAuthorityFiles> & { clock?: Clock } = {}): CertificateAuthority {
    const keyLabel = options.keyFile ? `ca_key_file ${options.keyFile}` : 'the MITM CA private key';
    const certLabel = options.certFile ? `ca_crt_file ${options.certFile}` : 'the MITM CA certificate';
    const invalid = (label: string, file: string | undefined, problem: string, cause?: unknown) => new CertificateAuthorityError('ERR_MITM_CA_INVALID', `${label}: ${problem}`, file, { cause });

    const privateKey = parsePrivateKey(pems.keyPem, (problem, cause) => invalid(keyLabel, options.keyFile, problem, cause));

    const pemBlocks = pems.certPem.match(CERTIFICATE_PEM);
    if (!pemBlocks) throw invalid(certLabel, options.certFile, 'no "BEGIN CERTIFICATE" PEM block found');
    let certificate: crypto.X509Certificate;
    try {
      certificate = new crypto.X509Certificate(pemBlocks[0]);
    } catch (error) {
      throw invalid(certLabel, options.certFile, `not a valid X.509 certificate (${(error as Error).message})`, error);
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw invalid(certLabel, options.certFile, `does not match the private key in ${options.keyFile ?? 'the key PEM'}; the first certificate must be the CA's own`);
    }
    if (!certificate.ca) throw invalid(certLabel, options.certFile, 'is not a CA certificate (basicConstraints cA is not true)');
    let issuer: IssuerFacts;
    try {
      issuer = readIssuerFacts(certificate.raw);
    } catch (error) {
      throw invalid(certLabel, options.certFile, `cannot read its subject and extensions (${(error as Error).message})`, error);
    }
    if (issuer.keyUsage !== undefined && (issuer.keyUsage & KeyUsage.keyCertSign) === 0) {
      throw invalid(certLabel, options.certFile, 'its keyUsage does not allow signing certificates (keyCertSign)');
    }

    const notBefore = new Date(certificate.validFrom);
    const notAfter = new Date(certificate.validTo);
    const now = (options.clock ?? systemClock)();
    if (now >= notAfter.getTime() || now < notBefore.getTime()) {
      throw new CertificateAuthorityError('ERR_MITM_CA_EXPIRED', `${certLabel}: valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}, not now; renew the MITM CA`, options.certFile);
    }
    return new CertificateAuthority(privateKey, certificate, `${pemBlocks.join('\n')}\n`, issuer, notBefore, notAfter);
  }
}

function parsePrivateKey(pem: string, invalid: (problem: string, cause?: unknown) => CertificateAuthorityError): KeyObject {
  let key: KeyObject;
  try {
    key = parsePrivateKeyPem(pem);
  } catch (error) {
    throw invalid((error as Error).message, error);
  }
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw invalid('RSA keys must have at least 2048 bits');
  } else if (key.asymmetricKeyType !== 'ec') {
    throw invalid(`${key.asymmetricKeyType} keys are not supported; use an RSA or EC key`);
  }
  return key;
}

export interface CertificateAuthorityOptions {
  commonName: string;
  /** How long the CA is valid, from now. */
  days: number;
  /** Defaults to `ec` (P-256). */
  algorithm?: KeyAlgorithm;
  clock?: Clock;
  randomBytes?: (size: number) => Buffer;
}

/**
 * A new self-signed CA for MITM: PKCS#8 key PEM and certificate PEM. Its path length is 0, so it can
 * sign leaves but not further CAs. Valid from one hour ago, to tolerate client clock skew.
 */
export async function generateCertificateAuthority(options: CertificateAuthorityOptions): Promise<{ keyPem: string; certPem: string }> {
  if (!(options.days > 0)) throw new RangeError('a CA must be valid for a positive number of days');
  if (options.commonName.length < 1 || options.commonName.length > 64) throw new RangeError('a CA common name has 1 to 64 characters');
  const now = (options.clock ?? systemClock)();
  const privateKey = await generatePrivateKey(options.algorithm ?? 'ec');
  const spki = subjectPublicKeyInfo(privateKey);
  const name = distinguishedName(options.commonName);
  const certificateDer = await buildCertificate(
    {
      serialNumber: randomSerialNumber(options.randomBytes ?? crypto.randomBytes),
      issuer: name,
      subject: name,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + options.days * 86_400_000),
      subjectPublicKeyInfo: spki,
      extensions: [basicConstraintsExtension({ pathLength: 0 }), keyUsageExtension(KeyUsage.keyCertSign | KeyUsage.cRLSign), subjectKeyIdentifierExtension(keyIdentifier(spki))],
    },
    privateKey,
  );
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem: toPem(certificateDer) };
}
