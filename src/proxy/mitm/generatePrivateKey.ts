// Key pairs for the MITM CA and its forged leaves: EC P-256 or RSA 2048, generated off the event loop.
import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** `ec` is P-256 (cheap to sign and to handshake); `rsa` is 2048 bits, for clients that accept nothing else. */
export type KeyAlgorithm = 'ec' | 'rsa';

/** Generates on the libuv pool: RSA generation takes tens of milliseconds. */
export function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _publicKey: KeyObject, privateKey: KeyObject) => (error ? reject(error) : resolve(privateKey));
    if (algorithm === 'ec') crypto.generateKeyPair('ec', { namedCurve: 'prime256v1' }, done);
    else crypto.generateKeyPair('rsa', { modulusLength: 2048 }, done);
  });
}
