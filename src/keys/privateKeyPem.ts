// Reading a PEM private key: PKCS#1 "RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY"
// (after an optional "EC PARAMETERS" block, as `openssl ecparam -genkey` writes), never encrypted.
import { createPrivateKey, type KeyObject } from 'node:crypto';

const PRIVATE_KEY_LABELS = ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY'];
const ENCRYPTED = 'the key is encrypted; store it decrypted (`openssl pkey -in key.pem -out plain.pem`) with mode 0600';
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** A PEM text's private key; throws an Error whose message says what is wrong and how to fix it. */
export function parsePrivateKeyPem(pem: string): KeyObject {
  const labels: string[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const label = match[1];
    if (!PRIVATE_KEY_LABELS.includes(label)) {
      labels.push(label);
      continue;
    }
    // OpenSSL would report a missing passphrase as an obscure "interrupted or cancelled".
    if (/Proc-Type:\s*4,ENCRYPTED/.test(match[0])) throw new Error(ENCRYPTED);
    try {
      return createPrivateKey(match[0]);
    } catch (error) {
      throw new Error(`not a valid private key (${(error as Error).message})`);
    }
  }
  if (labels.includes('ENCRYPTED PRIVATE KEY')) throw new Error(ENCRYPTED);
  const found = labels.length ? `it holds ${labels.map((label) => `"${label}"`).join(', ')}` : 'it holds no PEM block';
  throw new Error(`${found}; expected a PEM "RSA PRIVATE KEY", "PRIVATE KEY" or "EC PRIVATE KEY"`);
}
