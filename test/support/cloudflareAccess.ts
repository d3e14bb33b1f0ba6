// Cloudflare Access as the verifier meets it: RSA signing keys with 64-hex kids and
// self-signed certificates, the /cdn-cgi/access/certs document in its exact shape, and
// application tokens in their exact shape (no jti; the AUD tag in a list; custom claims).
import * as crypto from 'node:crypto';
import { seconds, signJws } from './jws';
import { selfSignedCertificate } from './selfSignedCertificate';

export const TEAM_DOMAIN = 'test.cloudflareaccess.com';
export const ACCESS_ISSUER = `https://${TEAM_DOMAIN}`;
export const CERTS_PATH = '/cdn-cgi/access/certs';
export const GROUPS_CLAIM = 'http://schemas/groups';

/** An Access application's AUD tag: 64 hex characters. */
export const audTag = (): string => crypto.randomBytes(32).toString('hex');

export interface AccessKey {
  kid: string;
  pair: crypto.KeyPairKeyObjectResult;
  cert: string;
}

/** An RSA signing key as Access has them: a 64-hex kid and a self-signed certificate. */
export function accessKey(): AccessKey {
  const pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: crypto.randomBytes(32).toString('hex'), pair, cert: selfSignedCertificate(pair, `/CN=${TEAM_DOMAIN}`) };
}

/** A JWK with the members in Cloudflare's order: kid, alg, use, e, n, kty. */
export function accessJwk(key: AccessKey): Record<string, unknown> {
  const { e, n, kty } = key.pair.publicKey.export({ format: 'jwk' });
  return { kid: key.kid, alg: 'RS256', use: 'sig', e, n, kty };
}

/** The certs document: `keys` as JWKs, their certificates in public_certs (plus `certificateOnly`), the first in public_cert. */
export function certsDocument(keys: AccessKey[], options: { certificateOnly?: AccessKey[]; extraJwks?: unknown[] } = {}) {
  return {
    keys: [...keys.map(accessJwk), ...(options.extraJwks ?? [])],
    public_cert: { kid: keys[0].kid, cert: keys[0].cert },
    public_certs: [...keys, ...(options.certificateOnly ?? [])].map(({ kid, cert }) => ({ kid, cert })),
  };
}

/** The claims of an Access application token for `aud`, issued at `nowMs`; a claim in `claims` set to undefined is left out. */
export function accessClaims(nowMs: number, aud: string, claims: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = seconds(nowMs);
  return {
    aud: [aud],
    email: 'ada@example.com',
    exp: iat + 24 * 3600,
    iat,
    nbf: iat,
    iss: ACCESS_ISSUER,
    type: 'app',
    identity_nonce: crypto.randomBytes(12).toString('base64url'),
    sub: '7335d417-61da-459d-899c-0a01c76a2f94',
    country: 'GB',
    custom: { [GROUPS_CLAIM]: ['engineering', 'on-call'] },
    ...claims,
  };
}

/** A service token's claims (Access service auth) over accessClaims: common_name instead of email, an empty sub. */
export const SERVICE_TOKEN_CLAIMS = { email: undefined, custom: undefined, country: undefined, identity_nonce: undefined, common_name: '88bf3b6d86161464f6509f7219099e57.access', sub: '' };

export type AccessSigner = AccessKey | { kid: string; privateKey: crypto.KeyObject };

/** A token signed as Access signs: header {alg: RS256, kid, typ: JWT} (plus `header`) over `claims`. */
export function accessToken(key: AccessSigner, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return signJws({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header }, claims, 'pair' in key ? key.pair.privateKey : key.privateKey);
}
