// A public key as the key registry receives it: the JWK the Go signer publishes.
import type { KeyObject } from 'node:crypto';
import { algorithmOf, type SigningAlgorithm } from '../jwt/algorithms';
import { padBase64url } from '../jwt/base64url';

/** A public JWK as the Go signer publishes it; members in its order: kid, kty, alg, use, then the key's. */
export interface RegistryJwk {
  kid: string;
  kty: 'RSA' | 'EC' | 'OKP';
  alg: SigningAlgorithm;
  use: 'sig';
  [member: string]: string;
}

/** Go's base64.URLEncoding: base64url with "=" padding, as go-oidc writes JWK members. */
function padded(base64url: string | undefined): string {
  return padBase64url(base64url ?? '');
}

/**
 * The public JWK of a key as the registry receives it. For RSA this is byte for byte what the Go signer
 * sends: {"kid","kty":"RSA","alg":"RS256","use":"sig","e","n"}, padded base64url. EC and Ed25519 keys (our
 * addition, which no Go program reads) use the standard unpadded form.
 */
export function registryJwk(keyId: string, key: KeyObject): RegistryJwk {
  const algorithm = algorithmOf(key);
  const jwk = key.export({ format: 'jwk' });
  switch (algorithm) {
    case 'RS256':
      return { kid: keyId, kty: 'RSA', alg: algorithm, use: 'sig', e: padded(jwk.e), n: padded(jwk.n) };
    case 'ES256':
      return { kid: keyId, kty: 'EC', alg: algorithm, use: 'sig', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    case 'EdDSA':
      return { kid: keyId, kty: 'OKP', alg: algorithm, use: 'sig', crv: jwk.crv as string, x: jwk.x as string };
  }
}
