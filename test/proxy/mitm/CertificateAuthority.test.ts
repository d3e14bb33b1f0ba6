import * as crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import forge from 'node-forge';
import { CertificateAuthority, CertificateAuthorityError, generateCertificateAuthority } from '../../../src/proxy/mitm/CertificateAuthority';
import { basicConstraintsExtension, buildCertificate, distinguishedName, randomSerialNumber, subjectPublicKeyInfo, toPem } from '../../../src/proxy/mitm/x509';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const clock = () => NOW;
const DAY_MS = 86_400_000;

let folder: string;
let ecCa: { keyPem: string; certPem: string };
let rsaCa: { keyPem: string; certPem: string };

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'mitm-ca-'));
  [ecCa, rsaCa] = await Promise.all([
    generateCertificateAuthority({ commonName: 'Test MITM CA', days: 30, clock }),
    generateCertificateAuthority({ commonName: 'Test RSA MITM CA', days: 30, algorithm: 'rsa', clock }),
  ]);
});

afterAll(() => rm(folder, { recursive: true, force: true }));

async function writeFiles(name: string, keyPem: string, certPem: string) {
  const keyFile = path.join(folder, `${name}.key`);
  const certFile = path.join(folder, `${name}.crt`);
  await Promise.all([writeFile(keyFile, keyPem), writeFile(certFile, certPem)]);
  return { keyFile, certFile };
}

async function loadError(files: { keyFile: string; certFile: string }, loadClock = clock): Promise<CertificateAuthorityError> {
  try {
    await CertificateAuthority.load(files, loadClock);
  } catch (error) {
    return error as CertificateAuthorityError;
  }
  throw new Error('the CA was accepted');
}

const reencode = (pem: string, type: 'pkcs1' | 'pkcs8' | 'sec1') => crypto.createPrivateKey(pem).export({ type, format: 'pem' }) as string;

describe('generateCertificateAuthority', () => {
  it('makes a self-signed CA certificate with the given common name and lifetime', () => {
    const certificate = new crypto.X509Certificate(ecCa.certPem);
    expect(certificate.ca).toBe(true);
    expect(certificate.subject).toBe('CN=Test MITM CA');
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(Date.parse(certificate.validTo)).toBe(NOW + 30 * DAY_MS);
  });

  it('writes expiry dates from 2050 on as GeneralizedTime, which OpenSSL reads back', async () => {
    const { certPem } = await generateCertificateAuthority({ commonName: 'Long-lived CA', days: 40 * 365, clock });
    expect(Date.parse(new crypto.X509Certificate(certPem).validTo)).toBe(NOW + 40 * 365 * DAY_MS);
  });

  it('makes a P-256 key by default, as PKCS#8', () => {
    expect(ecCa.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(crypto.createPrivateKey(ecCa.keyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('makes an RSA 2048 key on request', () => {
    expect(crypto.createPrivateKey(rsaCa.keyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('limits the CA to signing leaves: cA with path length 0, keyCertSign (read back by node-forge)', () => {
    // forge parses RSA certificates only: an independent reader of what we encoded.
    const certificate = forge.pki.certificateFromPem(rsaCa.certPem);
    expect(certificate.getExtension('basicConstraints')).toMatchObject({ critical: true, cA: true, pathLenConstraint: 0 });
    expect(certificate.getExtension('keyUsage')).toMatchObject({ critical: true, keyCertSign: true, cRLSign: true, digitalSignature: false });
    expect(certificate.getExtension('subjectKeyIdentifier')).toBeDefined();
  });
});

describe('CertificateAuthority.load', () => {
  it('loads an EC key in PKCS#8 ("PRIVATE KEY")', async () => {
    const ca = await CertificateAuthority.load(await writeFiles('ec-pkcs8', ecCa.keyPem, ecCa.certPem), clock);
    expect(ca.privateKey.asymmetricKeyType).toBe('ec');
    expect(ca.notAfter.getTime()).toBe(NOW + 30 * DAY_MS);
  });

  it('loads an EC key in SEC1 ("EC PRIVATE KEY")', async () => {
    const keyPem = reencode(ecCa.keyPem, 'sec1');
    expect(keyPem).toContain('-----BEGIN EC PRIVATE KEY-----');
    const ca = await CertificateAuthority.load(await writeFiles('ec-sec1', keyPem, ecCa.certPem), clock);
    expect(ca.privateKey.asymmetricKeyType).toBe('ec');
  });

  it('loads an RSA key in PKCS#1 ("RSA PRIVATE KEY")', async () => {
    const keyPem = reencode(rsaCa.keyPem, 'pkcs1');
    expect(keyPem).toContain('-----BEGIN RSA PRIVATE KEY-----');
    const ca = await CertificateAuthority.load(await writeFiles('rsa-pkcs1', keyPem, rsaCa.certPem), clock);
    expect(ca.privateKey.asymmetricKeyType).toBe('rsa');
  });

  it('loads an RSA key in PKCS#8 ("PRIVATE KEY")', async () => {
    const ca = await CertificateAuthority.load(await writeFiles('rsa-pkcs8', rsaCa.keyPem, rsaCa.certPem), clock);
    expect(ca.privateKey.asymmetricKeyType).toBe('rsa');
  });

  it('keeps further certificates of ca_crt_file as the chain sent to clients', async () => {
    const ca = await CertificateAuthority.load(await writeFiles('chain', ecCa.keyPem, ecCa.certPem + rsaCa.certPem), clock);
    expect(ca.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(ca.certificate.subject).toBe('CN=Test MITM CA');
  });

  it('refuses a key that does not match the certificate, naming the certificate file', async () => {
    const files = await writeFiles('mismatch', rsaCa.keyPem, ecCa.certPem);
    const error = await loadError(files);
    expect(error).toBeInstanceOf(CertificateAuthorityError);
    expect(error.code).toBe('ERR_MITM_CA_INVALID');
    expect(error.file).toBe(files.certFile);
    expect(error.message).toContain(`ca_crt_file ${files.certFile}`);
    expect(error.message).toContain('does not match the private key');
  });

  it('refuses a certificate that is not a CA', async () => {
    const key = crypto.createPrivateKey(ecCa.keyPem);
    const name = distinguishedName('not a ca');
    const der = await buildCertificate(
      {
        serialNumber: randomSerialNumber(crypto.randomBytes),
        issuer: name,
        subject: name,
        notBefore: new Date(NOW - DAY_MS),
        notAfter: new Date(NOW + DAY_MS),
        subjectPublicKeyInfo: subjectPublicKeyInfo(key),
        extensions: [basicConstraintsExtension(undefined)],
      },
      key,
    );
    const error = await loadError(await writeFiles('leaf', ecCa.keyPem, toPem(der)));
    expect(error.message).toContain('is not a CA certificate');
  });

  it('refuses a file that holds no private key, naming it', async () => {
    const files = await writeFiles('garbage', 'hello\n', ecCa.certPem);
    const error = await loadError(files);
    expect(error.file).toBe(files.keyFile);
    expect(error.message).toContain(`ca_key_file ${files.keyFile}: it holds no PEM block; expected a PEM "RSA PRIVATE KEY"`);
  });

  it('refuses an encrypted key and says how to decrypt it', async () => {
    const encrypted = crypto.createPrivateKey(ecCa.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
    const error = await loadError(await writeFiles('encrypted', encrypted, ecCa.certPem));
    expect(error.message).toContain('is encrypted');
  });

  it('refuses a file that holds no certificate, naming it', async () => {
    const files = await writeFiles('no-cert', ecCa.keyPem, ecCa.keyPem);
    const error = await loadError(files);
    expect(error.file).toBe(files.certFile);
    expect(error.message).toContain('no "BEGIN CERTIFICATE" PEM block');
  });

  it('refuses a missing file, naming it', async () => {
    const files = { keyFile: path.join(folder, 'absent.key'), certFile: path.join(folder, 'absent.crt') };
    const error = await loadError(files);
    expect(error.message).toMatch(/^ca_(key|crt)_file .*absent\.(key|crt): cannot read it/);
  });

  it('refuses an expired CA', async () => {
    const error = await loadError(await writeFiles('expired', ecCa.keyPem, ecCa.certPem), () => NOW + 31 * DAY_MS);
    expect(error.code).toBe('ERR_MITM_CA_EXPIRED');
    expect(error.message).toContain('renew the MITM CA');
  });
});
