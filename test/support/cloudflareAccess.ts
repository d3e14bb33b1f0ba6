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

/** The ids of the two device posture rules in accessIdentity(): disk encryption passes, the firewall check fails. */
export const DISK_ENCRYPTION_RULE = 'f6f9391e-6776-4878-9c60-0cc807dc7dc8';
export const FIREWALL_RULE = 'a0a8e83d-be75-4aa6-bfa0-5791da6e9186';
export const GET_IDENTITY_PATH = '/cdn-cgi/access/get-identity';

/** A device posture result as get-identity lists it under its rule id. */
export function postureResult(id: string, type: string, ruleName: string, success: boolean, check: Record<string, unknown>, input: Record<string, unknown>): Record<string, unknown> {
  return { id, schedule: '5m', timestamp: '2024-08-19T08:31:59.274Z', description: '', type, check, success, rule_name: ruleName, input };
}

/**
 * The document GET <team>/cdn-cgi/access/get-identity answers for a user's token, in
 * Cloudflare's exact shape (members in its order); `identity` overrides or adds members.
 */
export function accessIdentity(identity: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'P51Tuu01fWHMBjIBvrCK1lK-eUDWs2aQMv03WDqT5oY',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    groups: [
      { id: 'fdaedb59-e9be-4ab7-8001-3e069da54185', name: 'Security Team', email: 'security@example.com' },
      { id: '0cc8a1a6-1c4e-4d2f-9b7e-2f8a77b1d3c5', name: 'Engineering', email: 'engineering@example.com' },
    ],
    amr: ['pwd', 'mfa'],
    oidc_fields: { principalName: 'ada_example.com#EXT#@example.onmicrosoft.com' },
    idp: { id: 'b9f4d68e-dac1-48b0-b728-ae05a5f0d4b2', type: 'azureAD' },
    geo: { country: 'GB' },
    user_uuid: '7335d417-61da-459d-899c-0a01c76a2f94',
    account_id: '121287a0c6e6260ec930655e6b39a3a8',
    iat: 1724056537,
    ip: '203.0.113.7',
    auth_status: 'NONE',
    common_name: '',
    service_token_id: '',
    service_token_status: false,
    is_warp: true,
    is_gateway: false,
    gateway_account_id: '5c2d4d0a7f8b4e8c9d1e2f3a4b5c6d7e',
    device_id: '8469d7c4-83a9-11ee-b559-76e6e80876db',
    devicePosture: {
      [DISK_ENCRYPTION_RULE]: postureResult(DISK_ENCRYPTION_RULE, 'disk_encryption', 'Disk Encryption - Windows', true, { drives: { C: { encrypted: true } } }, { requireAll: true, checkDisks: [] }),
      [FIREWALL_RULE]: postureResult(FIREWALL_RULE, 'firewall', 'Local Firewall Check - Windows', false, { firewall: false }, { enabled: true }),
    },
    custom: { department: 'R&D' },
    ...identity,
  };
}

/**
 * The claims of the token Access POSTs to an External Evaluation endpoint, as {"token": …}:
 * the user's expanded identity under `identity` and the `nonce` the answer must copy, signed
 * by the team's key like its application tokens; `claims` override.
 */
export function externalEvaluationClaims(nowMs: number, aud: string, claims: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = seconds(nowMs);
  return {
    aud: [aud],
    exp: iat + 60,
    iat,
    nbf: iat,
    iss: ACCESS_ISSUER,
    identity: accessIdentity(),
    nonce: crypto.randomBytes(16).toString('hex'),
    ...claims,
  };
}
