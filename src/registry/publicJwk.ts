// The public key a publisher PUTs and verifiers GET back: a JWK with public members only,
// kept as sent (Go pads its base64url, and Go verifiers read it back as they wrote it).
import { InvalidJwkError, verificationKeyFromJwk } from '../keys/verificationKeyFromJwk';
import type { VerificationAlgorithm } from '../jwt/algorithms';
import type { VerificationKey } from '../keys/KeyServer';
import { RegistryError } from './RegistryError';

const SIGNING_ALGORITHMS: readonly VerificationAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

export type PublicJwk = { kty: string; kid: string } & Record<string, string>;

// Members that only a private (or symmetric) key has: a body carrying one is a leaked secret.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
// What is stored and served; anything else a publisher sends (x5c, key_ops…) is dropped.
const KEPT_MEMBERS = new Set(['kty', 'kid', 'use', 'alg', 'crv', 'n', 'e', 'x', 'y']);

/**
 * Checks a PUT body: a JSON object holding a public RSA (≥ 2048 bits), EC P-256 or Ed25519 key
 * whose `kid`, when present, is the kid of the path. Throws RegistryError ERR_REGISTRY_INVALID_JWK.
 */
export function parsePublicJwk(value: unknown, kid: string): { jwk: PublicJwk; key: VerificationKey } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RegistryError('ERR_REGISTRY_INVALID_JWK', 'the body must be the public key as a JWK JSON object');
  }
  const members = value as Record<string, unknown>;
  const leaked = PRIVATE_MEMBERS.filter((name) => members[name] !== undefined);
  if (leaked.length > 0) {
    throw new RegistryError('ERR_REGISTRY_INVALID_JWK', `the JWK carries private key members (${leaked.join(', ')}): send the public key only`);
  }
  if (members.kid !== undefined && members.kid !== kid) {
    throw new RegistryError('ERR_REGISTRY_INVALID_JWK', `the JWK's kid ${JSON.stringify(members.kid)} is not the kid of the path ${JSON.stringify(kid)}`);
  }
  let key: VerificationKey;
  try {
    key = verificationKeyFromJwk(members);
  } catch (error) {
    if (error instanceof InvalidJwkError) throw new RegistryError('ERR_REGISTRY_INVALID_JWK', error.message, { cause: error });
    throw error;
  }
  // Signers sign with these only (a verifier may accept more from identity providers).
  if (!SIGNING_ALGORITHMS.includes(key.algorithm)) {
    throw new RegistryError('ERR_REGISTRY_INVALID_JWK', `a ${key.algorithm} key cannot be published: use RSA (2048+), EC P-256 or Ed25519`);
  }
  const jwk: Record<string, string> = members.kid === undefined ? { kid } : {};
  for (const [name, member] of Object.entries(members)) {
    if (KEPT_MEMBERS.has(name) && typeof member === 'string') jwk[name] = member;
  }
  return { jwk: jwk as PublicJwk, key };
}

/** The key of a JWK the registry stored (it was checked when it was published). */
export function publicKeyOf(jwk: PublicJwk): VerificationKey {
  return verificationKeyFromJwk(jwk);
}

/** True when both JWKs hold the same key, whatever their padding or member order. */
export function sameKey(a: PublicJwk, b: PublicJwk): boolean {
  return publicKeyOf(a).key.equals(publicKeyOf(b).key);
}
