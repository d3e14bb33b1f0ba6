// The claims a signer puts in every token, as the Go signer makes them: iss, aud,
// iat = now, nbf = now - max_skew, exp = now + expiration_time, a random jti.
import { randomBytes } from 'node:crypto';
import type { Claims } from './token';

const NONCE_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';

/** `length` characters from [A-Za-z0-9+/], from the CSPRNG (Go used a time-seeded PRNG). */
export function randomNonce(length: number): string {
  const random = randomBytes(length);
  let nonce = '';
  // 256 is a multiple of 64: masking keeps every character equally likely.
  for (let i = 0; i < length; i++) nonce += NONCE_ALPHABET[random[i] & 63];
  return nonce;
}

export interface ClaimTimes {
  nowMs: number;
  expirationTimeMs: number;
  maxSkewMs: number;
}

/** Registered claims, keys in Go's sorted order; `extra` claims are merged in sorted too. */
export function signerClaims(issuer: string, audience: string, jti: string, times: ClaimTimes, extra?: Claims): Claims {
  const registered: Claims = {
    aud: audience,
    exp: Math.floor((times.nowMs + times.expirationTimeMs) / 1000),
    iat: Math.floor(times.nowMs / 1000),
    iss: issuer,
    jti,
    nbf: Math.floor((times.nowMs - times.maxSkewMs) / 1000),
  };
  if (!extra) return registered;
  const merged: Claims = {};
  for (const name of Object.keys({ ...extra, ...registered }).sort()) merged[name] = name in registered ? registered[name] : extra[name];
  return merged;
}
