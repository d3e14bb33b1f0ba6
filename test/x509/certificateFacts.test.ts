// Client certificate facts read from DER agree with what openssl prints for the same
// certificate: RFC 2253 names (UTF-8 kept), serial, SHA-256 fingerprint, validity, SANs.
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import { promisify } from 'node:util';
import { tempDir } from '../support/cli';
import { TestCa, type ClientCertificate } from '../support/clientCertificates';
import { certificateFacts } from '../../src/x509/CertificateFacts';
import { DerError } from '../../src/x509/der';
import { commonNameOf } from '../../src/x509/distinguishedName';

const run = promisify(execFile);
let ca: TestCa;

beforeAll(async () => {
  ca = await TestCa.create(tempDir());
});

const der = (certificate: ClientCertificate) => new crypto.X509Certificate(certificate.cert).raw;

/** One field as `openssl x509 -noout -<option>` prints it, without its "name=" prefix. */
async function openssl(certificate: ClientCertificate, ...options: string[]): Promise<string> {
  const { stdout } = await run('openssl', ['x509', '-in', certificate.crtFile, '-noout', ...options, '-nameopt', 'RFC2253,-esc_msb']);
  return stdout.trim().replace(/^[^=]*=/, '');
}

const rfc3339 = (opensslDate: string) => new Date(opensslDate).toISOString().replace('.000Z', 'Z');

test('subject, issuer, serial, fingerprint and validity are those openssl prints', async () => {
  const certificate = await ca.issue({ subject: '/O=Example/OU=Devices/CN=device-42' });
  const facts = certificateFacts(der(certificate));
  expect(facts.subject).toBe(await openssl(certificate, '-subject'));
  expect(facts.subject).toBe('CN=device-42,OU=Devices,O=Example');
  expect(facts.subject_cn).toBe('device-42');
  expect(facts.issuer).toBe(await openssl(certificate, '-issuer'));
  expect(facts.serial).toBe(await openssl(certificate, '-serial'));
  expect(facts.fingerprint_sha256).toBe((await openssl(certificate, '-fingerprint', '-sha256')).replace(/:/g, '').toLowerCase());
  expect(facts.not_before).toBe(rfc3339(await openssl(certificate, '-startdate')));
  expect(facts.not_after).toBe(rfc3339(await openssl(certificate, '-enddate')));
});

test('the x5t#S256 thumbprint is the base64url SHA-256 of the DER (RFC 8705)', async () => {
  const certificate = await ca.issue({ subject: '/CN=device-42' });
  const facts = certificateFacts(der(certificate));
  expect(facts.x5t_s256).toBe(crypto.createHash('sha256').update(der(certificate)).digest('base64url'));
  expect(facts.x5t_s256).not.toMatch(/[=+/]/);
  expect(Buffer.from(facts.x5t_s256, 'base64url').toString('hex')).toBe(facts.fingerprint_sha256);
});

test('DNS, URI and email SANs are listed in certificate order', async () => {
  const certificate = await ca.issue({
    subject: '/CN=device-42',
    altNames: ['DNS:device-42.example', 'URI:spiffe://example.org/device/42', 'email:ops@example.com', 'DNS:alias.example', 'IP:10.0.0.42'],
  });
  expect(certificateFacts(der(certificate))).toMatchObject({
    san_dns: ['device-42.example', 'alias.example'],
    san_uri: ['spiffe://example.org/device/42'],
    san_email: ['ops@example.com'],
  });
});

test('a certificate without SANs has empty lists and one without a CN no subject_cn', async () => {
  const facts = certificateFacts(der(await ca.issue({ subject: '/O=Example/OU=Devices' })));
  expect(facts).toMatchObject({ subject: 'OU=Devices,O=Example', san_dns: [], san_uri: [], san_email: [] });
  expect(facts).not.toHaveProperty('subject_cn');
});

test('special characters are escaped as RFC 4514 says and openssl does; UTF-8 stays as it is', async () => {
  const certificate = await ca.issue({ subject: '/DC=example/O=Example, Inc./OU=R\\+D "lab";<x>/OU=#hash/CN=Zoë+UID=42', multivalue: true });
  const facts = certificateFacts(der(certificate));
  expect(facts.subject).toBe(await openssl(certificate, '-subject'));
  expect(facts.subject).toBe('UID=42+CN=Zoë,OU=\\#hash,OU=R\\+D \\"lab\\"\\;\\<x\\>,O=Example\\, Inc.,DC=example');
  expect(facts.subject_cn).toBe('Zoë');
});

test('an attribute type without a short name is written in dotted decimal with its value as #hex', async () => {
  const certificate = await ca.issue({ subject: '/testAttribute=hello/CN=device-42', oids: { testAttribute: '1.2.3.4' } });
  const facts = certificateFacts(der(certificate));
  expect(facts.subject).toBe(await openssl(certificate, '-subject'));
  expect(facts.subject).toBe('CN=device-42,1.2.3.4=#0C0568656C6C6F');
});

test('the CN of an RFC 4514 string is read back with its escapes undone', () => {
  expect(commonNameOf('UID=42+CN=Zo\\C3\\AB,O=Example\\, Inc.')).toBe('Zoë');
  expect(commonNameOf('CN=Doe\\, John,CN=outer')).toBe('Doe, John');
  expect(commonNameOf('O=Example')).toBeUndefined();
  expect(commonNameOf('/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client')).toBe('Test Client');
});

test('bytes that are not a certificate are refused with DerError', async () => {
  const good = der(await ca.issue({ subject: '/CN=device-42' }));
  for (const bad of [Buffer.alloc(0), Buffer.from('not a certificate'), good.subarray(0, good.length - 10), Buffer.concat([good, Buffer.from([0])])]) {
    expect(() => certificateFacts(bad)).toThrow(DerError);
  }
});
