// New private keys, generated on the libuv thread pool (RSA takes tens of milliseconds).
import { generateKeyPair, type KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from '../jwt/algorithms';

/** RSA 2048 for RS256 (as Go), P-256 for ES256, Ed25519 for EdDSA. */
export function generateSigningKey(algorithm: SigningAlgorithm): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _publicKey: KeyObject, privateKey: KeyObject) => (error ? reject(error) : resolve(privateKey));
    if (algorithm === 'RS256') generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, done);
    else if (algorithm === 'ES256') generateKeyPair('ec', { namedCurve: 'prime256v1' }, done);
    else generateKeyPair('ed25519', undefined, done);
  });
}
