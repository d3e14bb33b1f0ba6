// `jwtproxy generate-ca`, run as the real binary.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CertificateAuthority } from '../../src/proxy/mitm/CertificateAuthority';
import { tempDir } from '../support/cli';
import { runTool } from './runTool';

const openssl = async (...args: string[]) => (await promisify(execFile)('openssl', args)).stdout;

let directory: string;
let keyFile: string;
let certFile: string;

beforeEach(() => {
  directory = tempDir();
  keyFile = path.join(directory, 'ca.key');
  certFile = path.join(directory, 'ca.crt');
});

afterEach(() => fs.rm(directory, { recursive: true, force: true }));

test('writes a CA certificate that openssl reads as CA:TRUE, and its key with mode 0600', async () => {
  const run = await runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  expect(run.stdout).toContain('SHA-256 fingerprint: ');
  expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
  const text = await openssl('x509', '-in', certFile, '-noout', '-text');
  expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
  expect(text).toContain('Subject: CN = jwtproxy MITM CA');
  expect(text).toContain('id-ecPublicKey');
});

test('the files load as the signer proxy MITM CA', async () => {
  await runTool(['generate-ca', '--out-key', keyFile, `--out-cert=${certFile}`]);
  const authority = await CertificateAuthority.load({ keyFile, certFile });
  expect(authority.certificate.ca).toBe(true);
});

test('-cn, -days and -algorithm rsa shape the CA', async () => {
  const run = await runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile, '-cn', 'Test CA', '-days', '30', '-algorithm', 'rsa']);
  expect(run.code).toBe(0);
  const text = await openssl('x509', '-in', certFile, '-noout', '-text');
  expect(text).toContain('Subject: CN = Test CA');
  expect(text).toContain('Public-Key: (2048 bit)');
  const notAfter = Date.parse((await openssl('x509', '-in', certFile, '-noout', '-enddate')).replace('notAfter=', ''));
  expect(Math.abs(notAfter - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
});

test('refuses to overwrite an existing file and writes nothing', async () => {
  await fs.writeFile(certFile, 'keep me');
  const run = await runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile]);
  expect(run.code).toBe(1);
  expect(run.stderr).toBe(`jwtproxy generate-ca: ${certFile} already exists; pass -force to overwrite it\n`);
  expect(await fs.readFile(certFile, 'utf8')).toBe('keep me');
  await expect(fs.stat(keyFile)).rejects.toMatchObject({ code: 'ENOENT' });
});

test('-force overwrites, and the key file ends with mode 0600 whatever it had', async () => {
  await fs.writeFile(keyFile, 'old', { mode: 0o644 });
  await fs.writeFile(certFile, 'old');
  const run = await runTool(['generate-ca', '-force', '-out-key', keyFile, '-out-cert', certFile]);
  expect(run.code).toBe(0);
  expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
  expect(await fs.readFile(keyFile, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
  expect(await fs.readdir(directory)).toEqual(['ca.crt', 'ca.key']);
});

test('a missing flag is a usage error: exit 2 and the usage on stderr', async () => {
  const run = await runTool(['generate-ca', '-out-key', keyFile]);
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^jwtproxy generate-ca: -out-cert is required .*\nusage: jwtproxy generate-ca /);
});

test('an unknown flag or a bad value is a usage error', async () => {
  const [unknown, badDays, badAlgorithm] = await Promise.all([
    runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile, '-bits', '4096']),
    runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile, '-days', 'ten']),
    runTool(['generate-ca', '-out-key', keyFile, '-out-cert', certFile, '-algorithm', 'dsa']),
  ]);
  expect([unknown.code, badDays.code, badAlgorithm.code]).toEqual([2, 2, 2]);
  expect(unknown.stderr).toContain('flag provided but not defined: -bits');
  expect(badDays.stderr).toContain('-days must be a whole number');
  expect(badAlgorithm.stderr).toContain('-algorithm must be ec, rsa');
});
