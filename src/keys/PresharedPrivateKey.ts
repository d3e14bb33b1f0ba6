// The `preshared` private key: a PEM file (PKCS#1 "RSA PRIVATE KEY" as Go reads, PKCS#8 "PRIVATE KEY"
// for RSA, P-256 or Ed25519, SEC1 "EC PRIVATE KEY"), its kid from the config; the key fixes the algorithm.
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { algorithmOf } from '../jwt/algorithms';
import { JwtproxyError } from '../util/JwtproxyError';
import { NoSigningKeyError, type PrivateKeySource, type SigningKey } from './PrivateKeySource';
import { parsePrivateKeyPem } from './privateKeyPem';

export class PrivateKeyFileError extends JwtproxyError {
  readonly code = 'ERR_PRIVATE_KEY_FILE';
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`private key ${file}: ${reason}`, options);
  }
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
    key = parsePrivateKeyPem(pem);
  } catch (error) {
    throw new PrivateKeyFileError(file, (error as Error).message, { cause: error });
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

  /** The file is read anew; the old key signs until the new one is loaded, and on failure. */
  reload(): Promise<void> {
    return this.start();
  }

  async stop(): Promise<void> {}
}
