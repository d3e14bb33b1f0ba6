import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import forge from 'node-forge';
import { CertificateAuthority, CertificateAuthorityError, generateCertificateAuthority } from '../../../src/proxy/mitm/CertificateAuthority';
import { LeafCertificateForger } from '../../../src/proxy/mitm/LeafCertificateForger';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

let ecCa: CertificateAuthority;
let rsaCa: CertificateAuthority;

beforeAll(async () => {
  const [ec, rsa] = await Promise.all([
    generateCertificateAuthority({ commonName: 'Forger EC CA', days: 30, clock: () => NOW }),
    generateCertificateAuthority({ commonName: 'Forger RSA CA', days: 30, algorithm: 'rsa', clock: () => NOW }),
  ]);
  ecCa = CertificateAuthority.fromPem(ec, { clock: () => NOW });
  rsaCa = CertificateAuthority.fromPem(rsa, { clock: () => NOW });
});

/** randomBytes that counts its calls: one call per forged certificate (its serial number). */
function countingRandom() {
  const random = Object.assign((size: number) => (random.calls++, crypto.randomBytes(size)), { calls: 0 });
  return random;
}

async function forge1(ca: CertificateAuthority, hostname: string, options: Parameters<typeof LeafCertificateForger.create>[1] = {}) {
  const forger = await LeafCertificateForger.create(ca, { clock: () => NOW, ...options });
  return new crypto.X509Certificate((await forger.forgeCertificate(hostname)).certificatePem);
}

describe('LeafCertificateForger.forgeCertificate', () => {
  it('forges a leaf for a host name, issued and signed by the CA', async () => {
    const leaf = await forge1(ecCa, 'api.example.com');
    expect(leaf.checkIssued(ecCa.certificate)).toBe(true);
    expect(leaf.verify(ecCa.certificate.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
  });

  it('names the host in the subject CN and as a DNS subject alternative name', async () => {
    const leaf = await forge1(ecCa, 'api.example.com');
    expect(leaf.subject).toBe('CN=api.example.com');
    expect(leaf.subjectAltName).toBe('DNS:api.example.com');
    expect(leaf.checkHost('api.example.com')).toBe('api.example.com');
  });

  it('names an IPv4 literal as an IP subject alternative name, not a DNS one', async () => {
    const leaf = await forge1(ecCa, '127.0.0.1');
    expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('names an IPv6 literal as an IP subject alternative name', async () => {
    const leaf = await forge1(ecCa, '2001:db8::1');
    expect(leaf.checkIP('2001:db8::1')).toBe('2001:db8::1');
    expect(leaf.subjectAltName).not.toContain('DNS:');
  });

  it('leaves the CN out of a name longer than 64 characters and keeps it in the SAN', async () => {
    const hostname = `${'a'.repeat(60)}.example.com`;
    const leaf = await forge1(ecCa, hostname);
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.checkHost(hostname)).toBe(hostname);
  });

  it('is valid from one hour ago for seven days', async () => {
    const leaf = await forge1(ecCa, 'example.com');
    expect(Date.parse(leaf.validFrom)).toBe(NOW - HOUR_MS);
    expect(Date.parse(leaf.validTo)).toBe(NOW + 7 * DAY_MS);
  });

  it('never outlives the CA', async () => {
    const leaf = await forge1(ecCa, 'example.com', { clock: () => NOW + 27 * DAY_MS });
    expect(Date.parse(leaf.validTo)).toBe(ecCa.notAfter.getTime());
  });

  it('refuses to forge once the CA has expired', async () => {
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW + 31 * DAY_MS });
    await expect(forger.forgeCertificate('example.com')).rejects.toMatchObject({ code: 'ERR_MITM_CA_EXPIRED' });
    await expect(forger.forgeCertificate('example.com')).rejects.toBeInstanceOf(CertificateAuthorityError);
  });

  it('draws the serial number from the injected random source', async () => {
    const leaf = await forge1(ecCa, 'example.com', { randomBytes: (size) => Buffer.alloc(size, 0x11) });
    expect(leaf.serialNumber).toBe('51111111111111111111111111111111');
  });

  it('gives every leaf a different serial number', async () => {
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW });
    const [a, b] = await Promise.all([forger.forgeCertificate('example.com'), forger.forgeCertificate('example.com')]);
    expect(new crypto.X509Certificate(a.certificatePem).serialNumber).not.toBe(new crypto.X509Certificate(b.certificatePem).serialNumber);
  });

  it('certifies one shared P-256 key by default', async () => {
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW });
    const [a, b] = await Promise.all([forger.forgeCertificate('a.example'), forger.forgeCertificate('b.example')]);
    const keyOf = (pem: string) => new crypto.X509Certificate(pem).publicKey;
    expect(keyOf(a.certificatePem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(keyOf(a.certificatePem).equals(keyOf(b.certificatePem))).toBe(true);
  });

  it('certifies an RSA 2048 key on request, signed by an RSA CA with SHA-256', async () => {
    const forger = await LeafCertificateForger.create(rsaCa, { clock: () => NOW, keyAlgorithm: 'rsa' });
    const pem = (await forger.forgeCertificate('example.com')).certificatePem;
    // forge reads RSA certificates only: an independent check of the extensions we encode.
    const leaf = forge.pki.certificateFromPem(pem);
    expect((leaf.publicKey as forge.pki.rsa.PublicKey).n.bitLength()).toBe(2048);
    expect(leaf.siginfo.algorithmOid).toBe(forge.pki.oids.sha256WithRSAEncryption);
    expect(leaf.getExtension('basicConstraints')).toMatchObject({ critical: true, cA: false });
    expect(leaf.getExtension('keyUsage')).toMatchObject({ critical: true, digitalSignature: true, keyEncipherment: true, keyCertSign: false });
    expect(leaf.getExtension('extKeyUsage')).toMatchObject({ serverAuth: true });
    expect(leaf.getExtension('subjectAltName')).toMatchObject({ altNames: [{ type: 2, value: 'example.com' }] });
    expect(rsaCa.certificate.publicKey.equals(new crypto.X509Certificate(pem).publicKey)).toBe(false);
    expect(new crypto.X509Certificate(pem).verify(rsaCa.certificate.publicKey)).toBe(true);
  });

  it('works with a CA made by OpenSSL, pointing at its key identifier', async () => {
    // Made with `openssl req -x509 -newkey rsa:2048 -nodes -days 3650` on 2026-11-22 (valid to 2036-11-19).
    const opensslCa = await CertificateAuthority.load(
      { keyFile: path.join(__dirname, '../../fixtures/mitm/openssl-ca.key'), certFile: path.join(__dirname, '../../fixtures/mitm/openssl-ca.crt') },
      () => NOW + DAY_MS,
    );
    const leaf = await forge1(opensslCa, 'example.com', { clock: () => NOW + DAY_MS, keyAlgorithm: 'rsa' });
    expect(leaf.issuer).toBe(opensslCa.certificate.subject);
    expect(leaf.checkIssued(opensslCa.certificate)).toBe(true);
    expect(leaf.verify(opensslCa.certificate.publicKey)).toBe(true);
    // forge leaves the authorityKeyIdentifier undecoded: SEQUENCE { [0] keyIdentifier }.
    const authorityKeyId = forge.pki.certificateFromPem(leaf.toString()).getExtension('authorityKeyIdentifier') as { value: string };
    const subjectKeyId = forge.pki.certificateFromPem(opensslCa.certificate.toString()).getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    expect(forge.util.bytesToHex(authorityKeyId.value)).toBe(`30168014${subjectKeyId.subjectKeyIdentifier}`);
  });
});

describe('LeafCertificateForger.secureContextFor', () => {
  it('forges once for concurrent requests for one new host', async () => {
    const random = countingRandom();
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW, randomBytes: random });
    const contexts = await Promise.all(Array.from({ length: 20 }, () => forger.secureContextFor('example.com')));
    expect(random.calls).toBe(1);
    expect(new Set(contexts).size).toBe(1);
  });

  it('reuses the cached context for a known host', async () => {
    const random = countingRandom();
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW, randomBytes: random });
    const first = await forger.secureContextFor('example.com');
    expect(await forger.secureContextFor('example.com')).toBe(first);
    expect(random.calls).toBe(1);
  });

  it('evicts the least recently used host when the cache is full', async () => {
    const random = countingRandom();
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW, randomBytes: random, maxCachedContexts: 2 });
    await forger.secureContextFor('a.example');
    await forger.secureContextFor('b.example');
    await forger.secureContextFor('a.example');
    await forger.secureContextFor('c.example'); // evicts b, the least recently used
    expect(forger.cachedContexts).toBe(2);
    expect(random.calls).toBe(3);
    await forger.secureContextFor('a.example');
    expect(random.calls).toBe(3);
    await forger.secureContextFor('b.example');
    expect(random.calls).toBe(4);
  });

  it('forges again once half of the leaf lifetime has passed', async () => {
    let now = NOW;
    const random = countingRandom();
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => now, randomBytes: random });
    const first = await forger.secureContextFor('example.com');
    now += 3.4 * DAY_MS;
    expect(await forger.secureContextFor('example.com')).toBe(first);
    now += 0.2 * DAY_MS;
    expect(await forger.secureContextFor('example.com')).not.toBe(first);
    expect(random.calls).toBe(2);
  });

  it('forges at most maxConcurrentForgeries hosts at once; the others wait their turn', async () => {
    const random = countingRandom();
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => NOW, randomBytes: random, maxConcurrentForgeries: 1 });
    const all = Promise.all(['a.example', 'b.example', 'c.example'].map((hostname) => forger.secureContextFor(hostname)));
    expect(random.calls).toBe(1);
    await all;
    expect(random.calls).toBe(3);
    expect(forger.cachedContexts).toBe(3);
  });

  it('does not cache a failure', async () => {
    let now = NOW + 31 * DAY_MS;
    const forger = await LeafCertificateForger.create(ecCa, { clock: () => now });
    await expect(forger.secureContextFor('example.com')).rejects.toMatchObject({ code: 'ERR_MITM_CA_EXPIRED' });
    now = NOW;
    await expect(forger.secureContextFor('example.com')).resolves.toBeDefined();
  });

  it('forges 1000 distinct hosts with a bounded cache and a responsive event loop', async () => {
    const forger = await LeafCertificateForger.create(ecCa, { maxCachedContexts: 250 });
    const hostnames = Array.from({ length: 1000 }, (_, index) => `host-${index}.example.com`);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // 32 clients at a time, as a burst of new tunnels would arrive.
    let next = 0;
    const client = async () => {
      while (next < hostnames.length) await forger.secureContextFor(hostnames[next++]);
    };
    await Promise.all(Array.from({ length: 32 }, client));
    delay.disable();
    expect(forger.cachedContexts).toBe(250);
    // A behaviour bound, not a performance figure: forging the 1000 in one synchronous run stalls
    // the loop for seconds; a loaded machine's scheduling alone stays well under one.
    expect(delay.max / 1e6).toBeLessThan(1000);
  });
});
