// Tokens for tests, signed like the Go signer does, with the interop key by default.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { signToken, type Claims } from '../../src/jwt/token';
import { interopFile } from './interop';

export const interopPrivateKey = crypto.createPrivateKey(fs.readFileSync(interopFile('mykey.key')));

export interface MintOptions {
  audience: string;
  nowMs?: number;
  claims?: Claims;
  key?: crypto.KeyObject;
  keyId?: string;
}

export function mintToken(options: MintOptions): Promise<string> {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: Claims = {
    aud: options.audience,
    exp: now + 300,
    iat: now,
    iss: 'jwtproxy',
    jti: crypto.randomBytes(24).toString('base64'),
    nbf: now - 60,
    ...options.claims,
  };
  return signToken('RS256', options.key ?? interopPrivateKey, options.keyId ?? 'mykey', claims);
}
