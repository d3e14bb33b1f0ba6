// A public JWK (RSA, EC P-256, Ed25519) as a VerificationKey. Go writes its JWK members in
// padded base64url (`n: "…=="`): padding is accepted and stripped before node:crypto sees it.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { verificationAlgorithmOf } from '../jwt/algorithms';
import { decodeBase64url } from '../jwt/base64url';
import { JwtproxyError } from '../util/JwtproxyError';
import type { VerificationKey } from './KeyServer';

export class InvalidJwkError extends JwtproxyError {
  readonly code = 'ERR_INVALID_JWK';
}

// The public members of each key type: anything else in the JWK (d, p, q, x5c…) is ignored.
const PUBLIC_MEMBERS: Record<string, { binary: string[]; text: string[] }> = {
  RSA: { binary: ['n', 'e'], text: [] },
  EC: { binary: ['x', 'y'], text: ['crv'] },
  OKP: { binary: ['x'], text: ['crv'] },
};

/**
 * Builds the key of a JWK. With `expectedKeyId`, a JWK naming another `kid` is refused.
 * The algorithm comes from the key; an `alg` member that disagrees with it is refused.
 */
export function verificationKeyFromJwk(jwk: unknown, expectedKeyId?: string): VerificationKey {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new InvalidJwkError('the JWK is not a JSON object');
  const members = jwk as Record<string, unknown>;
  if (expectedKeyId !== undefined && members.kid !== undefined && members.kid !== expectedKeyId) {
    throw new InvalidJwkError(`the JWK has kid ${JSON.stringify(members.kid)}, not the requested ${JSON.stringify(expectedKeyId)}`);
  }
  if (members.use !== undefined && members.use !== 'sig') {
    throw new InvalidJwkError(`the JWK is for use ${JSON.stringify(members.use)}, not "sig"`);
  }

  const kty = members.kty;
  const shape = typeof kty === 'string' ? PUBLIC_MEMBERS[kty] : undefined;
  if (!shape) throw new InvalidJwkError(`unsupported JWK kty ${JSON.stringify(kty)}: use RSA, EC or OKP`);
  const publicJwk: Record<string, string> = { kty: kty as string };
  for (const name of shape.text) {
    if (typeof members[name] !== 'string') throw new InvalidJwkError(`the ${kty} JWK has no "${name}" member`);
    publicJwk[name] = members[name] as string;
  }
  for (const name of shape.binary) {
    const value = members[name];
    if (typeof value !== 'string' || value === '' || !decodeBase64url(value)) {
      throw new InvalidJwkError(`the ${kty} JWK member "${name}" is missing or not base64url`);
    }
    publicJwk[name] = value.replace(/=+$/, '');
  }

  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' });
  } catch (error) {
    throw new InvalidJwkError(`the ${kty} JWK is not a valid public key (${(error as Error).message})`, { cause: error });
  }
  let algorithm;
  try {
    algorithm = verificationAlgorithmOf(key);
  } catch (error) {
    throw new InvalidJwkError(`the JWK's key is not usable: ${(error as Error).message}`, { cause: error });
  }
  if (members.alg !== undefined && members.alg !== algorithm) {
    if (members.alg === 'PS256' && algorithm === 'RS256') return { key, algorithm: 'PS256' };
    const rsaNote = algorithm === 'RS256' ? ' (or PS256, when its alg says so)' : '';
    throw new InvalidJwkError(`the JWK has alg ${JSON.stringify(members.alg)}, but its ${kty} key verifies ${algorithm} only${rsaNote}`);
  }
  return { key, algorithm };
}
