// Where a verifier finds the public key of a token's (issuer, kid).
import type { KeyObject } from 'node:crypto';
import type { VerificationAlgorithm } from '../jwt/algorithms';
import { JwtproxyError } from '../util/JwtproxyError';

export interface VerificationKey {
  key: KeyObject;
  /** The only algorithm a token signed with this key may use. */
  algorithm: VerificationAlgorithm;
}

export interface KeyServer {
  /**
   * Rejects with KeyNotFoundError, KeyExpiredError or KeyServerError. `client`, the address of
   * the request naming the kid, lets a server that fetches keys on demand share its fetches
   * among clients rather than requests.
   */
  getPublicKey(issuer: string, keyId: string, client?: string): Promise<VerificationKey>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * For a token without `kid` (OpenID Connect Core §10.1): the one key of the set usable with
   * `algorithm`, with its kid. Rejects with KeyNotFoundError when the set holds none or several.
   * Absent where keys are looked up one kid at a time.
   */
  getOnlyKey?(issuer: string, algorithm: string): Promise<{ keyId: string; key: VerificationKey }>;
  /** Re-reads key files or forgets cached keys; on failure the old keys stay in use. */
  reload?(): Promise<void>;
  /** False while the server has no usable keys (it keeps trying by itself); absent means always ready. */
  ready?(): boolean;
}

export class KeyNotFoundError extends JwtproxyError {
  readonly code = 'ERR_KEY_NOT_FOUND';
  constructor(issuer: string, keyId: string) {
    super(`no public key for issuer ${JSON.stringify(issuer)} and kid ${JSON.stringify(keyId)}`);
  }
}

export class KeyExpiredError extends JwtproxyError {
  readonly code = 'ERR_KEY_EXPIRED';
  constructor(issuer: string, keyId: string) {
    super(`the public key of issuer ${JSON.stringify(issuer)} with kid ${JSON.stringify(keyId)} has expired`);
  }
}

export class KeyServerError extends JwtproxyError {
  readonly code: string = 'ERR_KEY_SERVER';
}

/** The key server cannot be reached or answers 5xx, and has no usable key cached: retryable, answered with 503. */
export class KeyServerUnavailableError extends KeyServerError {
  override readonly code = 'ERR_KEY_SERVER_UNAVAILABLE';
}

/** The key server has no usable key set yet (a provider down at start): retryable, answered with 503. */
export class KeysUnavailableError extends KeyServerError {
  override readonly code = 'ERR_KEYS_UNAVAILABLE';
}
