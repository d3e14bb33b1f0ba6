// The algorithm of a signature is fixed by the key, never by the token: RS256 for RSA,
// ES256 for P-256, EdDSA for Ed25519. Verification is sync (cheap); signing is async,
// on the libuv pool, because RSA signing is too slow for the event loop.
import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from '../config/types';

export class UnsupportedKeyError extends Error {
  readonly code = 'ERR_UNSUPPORTED_KEY';
}

/** The one JWS algorithm a key may sign or verify with. */
export function algorithmOf(key: KeyObject): SigningAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new UnsupportedKeyError('RSA keys must have at least 2048 bits');
      return 'RS256';
    case 'ec':
      if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new UnsupportedKeyError('EC keys must be on the P-256 curve');
      return 'ES256';
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new UnsupportedKeyError(`unsupported key type ${key.asymmetricKeyType ?? key.type}; use RSA (2048+), EC P-256 or Ed25519`);
  }
}

// node:crypto arguments per algorithm: digest (null for EdDSA) and the JWS signature encoding.
const DIGEST: Record<SigningAlgorithm, string | null> = { RS256: 'sha256', ES256: 'sha256', EdDSA: null };

function keyInput(algorithm: SigningAlgorithm, key: KeyObject): KeyObject | crypto.SignKeyObjectInput | crypto.VerifyKeyObjectInput {
  return algorithm === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
}

export function verifySignature(algorithm: SigningAlgorithm, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  try {
    return crypto.verify(DIGEST[algorithm], signingInput, keyInput(algorithm, key) as crypto.VerifyKeyObjectInput, signature);
  } catch {
    return false;
  }
}

/** Signs on the libuv thread pool: the event loop never waits on RSA. */
export function signAsync(algorithm: SigningAlgorithm, key: KeyObject, signingInput: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    crypto.sign(DIGEST[algorithm], signingInput, keyInput(algorithm, key) as crypto.SignKeyObjectInput, (error, signature) =>
      error ? reject(error) : resolve(signature),
    );
  });
}
