// Key server `preshared`: one public key from a PEM file, for one (issuer, kid).
// Issuer and kid compare case-insensitively, as in the Go jwtproxy (strings.EqualFold).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { algorithmOf } from '../jwt/algorithms';
import { JwtproxyError } from '../util/JwtproxyError';
import { KeyServerError, type KeyServer, type VerificationKey } from './KeyServer';
import type { KeyServerConfig } from './keyServerTypes';

export type PresharedKeyServerConfig = Extract<KeyServerConfig, { type: 'preshared' }>;

/** A public key file that cannot serve as the verification key. */
export class PublicKeyFileError extends JwtproxyError {
  readonly code = 'ERR_PUBLIC_KEY_FILE';
  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`public key file ${path}: ${problem}`, options);
  }
}

const PUBLIC_KEY_LABELS = new Set(['PUBLIC KEY', 'RSA PUBLIC KEY']);

export class PresharedKeyServer implements KeyServer {
  private readonly issuer: string;
  private readonly keyId: string;
  private lookup?: Promise<VerificationKey>;

  constructor(private readonly config: PresharedKeyServerConfig) {
    this.issuer = config.issuer.toLowerCase();
    this.keyId = config.keyId.toLowerCase();
  }

  async start(): Promise<void> {
    const key = await loadPublicKey(this.config.publicKeyPath);
    let algorithm;
    try {
      algorithm = algorithmOf(key);
    } catch (error) {
      throw new PublicKeyFileError(this.config.publicKeyPath, (error as Error).message, { cause: error });
    }
    const verificationKey: VerificationKey = { key, algorithm };
    // Every lookup gets this same settled promise: nothing is allocated on the hot path.
    this.lookup = Promise.resolve(verificationKey);
  }

  /** The file is read anew; the old key serves until the new one is loaded, and on failure. */
  reload(): Promise<void> {
    return this.start();
  }

  async stop(): Promise<void> {
    this.lookup = undefined;
  }

  getPublicKey(issuer: string, keyId: string): Promise<VerificationKey> {
    if (!this.lookup) return Promise.reject(new KeyServerError('the preshared key server is not started'));
    const issuerMatches = issuer === this.config.issuer || issuer.toLowerCase() === this.issuer;
    const keyIdMatches = keyId === this.config.keyId || keyId.toLowerCase() === this.keyId;
    if (issuerMatches && keyIdMatches) return this.lookup;
    return Promise.reject(new KeyServerError(this.mismatch(issuer, keyId, issuerMatches, keyIdMatches)));
  }

  private mismatch(issuer: string, keyId: string, issuerMatches: boolean, keyIdMatches: boolean): string {
    const wanted = `the preshared key server only holds the key of issuer ${JSON.stringify(this.config.issuer)} with kid ${JSON.stringify(this.config.keyId)}`;
    if (!issuerMatches && !keyIdMatches) return `issuer ${JSON.stringify(issuer)} and kid ${JSON.stringify(keyId)} are unknown: ${wanted}`;
    if (!issuerMatches) return `issuer ${JSON.stringify(issuer)} is unknown: ${wanted}`;
    return `kid ${JSON.stringify(keyId)} is unknown: ${wanted}`;
  }
}

async function loadPublicKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new PublicKeyFileError(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  if (!label) throw new PublicKeyFileError(path, 'is not PEM: expected a "-----BEGIN PUBLIC KEY-----" block');
  if (!PUBLIC_KEY_LABELS.has(label)) {
    const hint = label.includes('PRIVATE')
      ? 'it holds a private key, which must not be given to a verifier; extract the public key, e.g. `openssl pkey -in key.pem -pubout`'
      : 'expected "PUBLIC KEY" (SPKI) or "RSA PUBLIC KEY" (PKCS#1)';
    throw new PublicKeyFileError(path, `holds a PEM "${label}" block: ${hint}`);
  }
  try {
    return createPublicKey(pem);
  } catch (error) {
    throw new PublicKeyFileError(path, `its "${label}" block cannot be decoded (${(error as Error).message})`, { cause: error });
  }
}
