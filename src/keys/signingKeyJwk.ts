// The public half of a signing key as a JWK for a JWKS document (RFC 7517): kid, kty, alg,
// use "sig", then n, e (RSA) or crv, x, y (EC) or crv, x (Ed25519), in unpadded base64url
// as RFC 7518 writes them, so that WebCrypto and every JOSE library import it as is.
import { createPublicKey } from 'node:crypto';
import type { SigningKey } from './PrivateKeySource';

export type PublicSigningJwk = { kid: string; kty: string; alg: string; use: 'sig' } & Record<string, string>;

export function signingKeyJwk({ key, keyId, algorithm }: SigningKey): PublicSigningJwk {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const head = { kid: keyId, kty: jwk.kty as string, alg: algorithm, use: 'sig' as const };
  switch (jwk.kty) {
    case 'RSA':
      return { ...head, n: jwk.n as string, e: jwk.e as string };
    case 'EC':
      return { ...head, crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    default:
      return { ...head, crv: jwk.crv as string, x: jwk.x as string };
  }
}
