// A self-signed X.509 certificate (PEM) for a given key pair, made by openssl: the shape of
// the certificates Cloudflare Access publishes beside its JWKs.
import { execFileSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function selfSignedCertificate(pair: { privateKey: KeyObject }, subject = '/CN=access.example'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cert-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    fs.writeFileSync(keyFile, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    return execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', subject, '-days', '2'], { encoding: 'utf8' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
