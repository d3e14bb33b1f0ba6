// A self-signed server certificate for 127.0.0.1 (and localhost), made by openssl, for TLS listeners in tests.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

export interface TlsFiles {
  keyFile: string;
  crtFile: string;
}

/** Writes tls.key and tls.crt into `dir`; asynchronous, so servers of the same process keep answering. */
export async function tlsCertificate(dir: string): Promise<TlsFiles> {
  const files = { keyFile: path.join(dir, 'tls.key'), crtFile: path.join(dir, 'tls.crt') };
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    files.keyFile,
    '-out',
    files.crtFile,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return files;
}
