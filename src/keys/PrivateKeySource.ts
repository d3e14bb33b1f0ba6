// Where the signer gets the key it signs with now.
import type { KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from '../jwt/algorithms';
import { JwtproxyError } from '../util/JwtproxyError';

export interface SigningKey {
  key: KeyObject;
  keyId: string;
  algorithm: SigningAlgorithm;
}

export interface PrivateKeySource {
  /** The key to sign with now; throws NoSigningKeyError when none is usable (e.g. awaiting approval). */
  signingKey(): SigningKey;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads the key file; on failure the old key stays in use. */
  reload?(): Promise<void>;
  /** The keys a JWKS of this source lists (signatures of each may still be presented); the signing key alone when absent. */
  publishedKeys?(): SigningKey[];
  /**
   * Calls `listener` after each change of what signingKey() gives (a new key, or a new reason
   * for none), for sources whose key changes by itself; returns the function that stops it.
   */
  onChange?(listener: () => void): () => void;
}

export class NoSigningKeyError extends JwtproxyError {
  readonly code = 'ERR_NO_SIGNING_KEY';
}
