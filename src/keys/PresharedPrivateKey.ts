// The `preshared` private key: a PEM file (PKCS#1 "RSA PRIVATE KEY" as Go reads, PKCS#8 "PRIVATE KEY"
// for RSA, P-256 or Ed25519, SEC1 "EC PRIVATE KEY"), its kid from the config; the key fixes the algorithm.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { algorithmOf } from '../jwt/algorithms';
import { NoSigningKeyError, type PrivateKeySource, type SigningKey } from './PrivateKeySource';

export class PrivateKeyFileError extends Error {
  readonly code = 'ERR_PRIVATE_KEY_FILE';
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`private key ${file}: ${reason}`, options);
    this.name = 'PrivateKeyFileError';
  }
}

const PRIVATE_KEY_LABELS = ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY'];
const ENCRYPTED = 'the key is encrypted; store it decrypted (`openssl pkey -in key.pem -out plain.pem`) with mode 0600';
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The private key block of a PEM file; `openssl ecparam -genkey` puts an "EC PARAMETERS" block first. */
function privateKeyBlock(file: string, pem: string): string {
  const labels: string[] = [];
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const label = match[1];
    if (PRIVATE_KEY_LABELS.includes(label)) {
      if (/Proc-Type:\s*4,ENCRYPTED/.test(match[0])) {
        throw new PrivateKeyFileError(file, ENCRYPTED);
      }
      return match[0];
    }
    labels.push(label);
  }
  if (labels.includes('ENCRYPTED PRIVATE KEY')) {
    throw new PrivateKeyFileError(file, ENCRYPTED);
  }
  const found = labels.length ? `it holds ${labels.map((label) => `"${label}"`).join(', ')}` : 'it holds no PEM block';
  throw new PrivateKeyFileError(file, `${found}; expected a PEM "RSA PRIVATE KEY", "PRIVATE KEY" or "EC PRIVATE KEY"`);
}

/** Reads and checks a PEM private key file; every failure names the file. */
export async function loadPrivateKeyPem(file: string, keyId: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await fs.readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new PrivateKeyFileError(file, reason, { cause: error });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyBlock(file, pem));
  } catch (error) {
    if (error instanceof PrivateKeyFileError) throw error;
    throw new PrivateKeyFileError(file, `not a valid private key (${(error as Error).message})`, { cause: error });
  }
  try {
    return { key, keyId, algorithm: algorithmOf(key) };
  } catch (error) {
    throw new PrivateKeyFileError(file, (error as Error).message, { cause: error });
  }
}

export class PresharedPrivateKey implements PrivateKeySource {
  private current?: SigningKey;

  constructor(private readonly config: { keyId: string; privateKeyPath: string }) {}

  async start(): Promise<void> {
    this.current = await loadPrivateKeyPem(this.config.privateKeyPath, this.config.keyId);
  }

  signingKey(): SigningKey {
    if (!this.current) throw new NoSigningKeyError(`the private key ${this.config.privateKeyPath} is not loaded yet`);
    return this.current;
  }

  async stop(): Promise<void> {}
}
