// Compact JWS tokens made directly with node:crypto, with any JOSE header: the tokens of
// identity-aware proxies (Cloudflare Access, Google IAP, AWS ALB, Pomerium, OIDC
// providers), and the forgeries a verifier must refuse (alg confusion, "none").
import * as crypto from 'node:crypto';

export type JwsAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'HS256' | 'none';

export interface JwsOptions {
  /** How the token is really signed; the header's `alg` by default (set it to forge a mismatch). */
  signWith?: JwsAlgorithm;
  /** base64url segments with "=" padding, as AWS ALB writes them. */
  padded?: boolean;
}

function encode(data: Buffer, padded: boolean): string {
  const text = data.toString('base64url');
  return padded ? text + '='.repeat((4 - (text.length % 4)) % 4) : text;
}

function signature(algorithm: JwsAlgorithm, key: crypto.KeyObject | Buffer | undefined, data: Buffer): Buffer {
  switch (algorithm) {
    case 'RS256':
      return crypto.sign('sha256', data, key as crypto.KeyObject);
    case 'PS256':
      // RFC 7518 §3.5: MGF1 with SHA-256, a salt as long as the digest.
      return crypto.sign('sha256', data, { key: key as crypto.KeyObject, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'ES256':
      return crypto.sign('sha256', data, { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
    case 'HS256':
      return crypto
        .createHmac('sha256', key as Buffer)
        .update(data)
        .digest();
    case 'none':
      return Buffer.alloc(0);
  }
}

/** `header.payload.signature`, the JSON of `header` and `claims` in the order given. */
export function signJws(header: Record<string, unknown>, claims: Record<string, unknown>, key: crypto.KeyObject | Buffer | undefined, options: JwsOptions = {}): string {
  const padded = options.padded ?? false;
  const signingInput = `${encode(Buffer.from(JSON.stringify(header)), padded)}.${encode(Buffer.from(JSON.stringify(claims)), padded)}`;
  const algorithm = options.signWith ?? (header.alg as JwsAlgorithm);
  return `${signingInput}.${encode(signature(algorithm, key, Buffer.from(signingInput)), padded)}`;
}

/** The public JWK of `key`, `members` (kid, alg, use…) first, as providers publish them. */
export function publicJwk(key: crypto.KeyObject, members: Record<string, unknown>): Record<string, unknown> {
  return { ...members, ...(key.type === 'private' ? crypto.createPublicKey(key) : key).export({ format: 'jwk' }) };
}

/** Seconds since the epoch, as JWT times are written. */
export function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
