// The compact JWS token: parsing (no trust yet) and signing.
import type { KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from '../config/types';
import { signAsync } from './algorithms';
import { decodeBase64url, encodeBase64url } from './base64url';

export type Claims = Record<string, unknown>;

export interface JoseHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
  [name: string]: unknown;
}

export interface ParsedToken {
  header: JoseHeader;
  claims: Claims;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: Buffer;
  signature: Buffer;
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits and decodes a compact JWS; undefined when it is not one. The signature is not checked. */
export function parseToken(token: string): ParsedToken | undefined {
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot <= 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) !== -1) return undefined;
  const header = decodeJsonObject(token.slice(0, firstDot));
  const claims = decodeJsonObject(token.slice(firstDot + 1, secondDot));
  const signature = decodeBase64url(token.slice(secondDot + 1));
  if (!header || !claims || !signature) return undefined;
  return { header, claims, signingInput: Buffer.from(token.slice(0, secondDot), 'latin1'), signature };
}

/** Serialises and signs a token: header {alg, kid, typ: JWT}, claims as given. */
export async function signToken(algorithm: SigningAlgorithm, key: KeyObject, keyId: string, claims: Claims): Promise<string> {
  const header = encodeBase64url(JSON.stringify({ alg: algorithm, kid: keyId, typ: 'JWT' }));
  const payload = encodeBase64url(JSON.stringify(claims));
  const signingInput = `${header}.${payload}`;
  const signature = await signAsync(algorithm, key, Buffer.from(signingInput, 'latin1'));
  return `${signingInput}.${encodeBase64url(signature)}`;
}
