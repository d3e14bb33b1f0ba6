// Key pairs for the MITM CA and its forged leaves, named as the MITM options name them.
import type { KeyObject } from 'node:crypto';
import { generateSigningKey } from '../../keys/generateSigningKey';

/** `ec` is P-256 (cheap to sign and to handshake); `rsa` is 2048 bits, for clients that accept nothing else. */
export type KeyAlgorithm = 'ec' | 'rsa';

export function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  return generateSigningKey(algorithm === 'ec' ? 'ES256' : 'RS256');
}
