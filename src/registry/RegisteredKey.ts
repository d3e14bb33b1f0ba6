// One key the registry knows: its public JWK, where it is in its life (pending → approved →
// revoked or expired), and when that changes. Records are values: change one by writing a new one.
import type { PublicJwk } from './publicJwk';

/** Quay's rule for service names (the issuer of the keys). */
export const SERVICE_NAME = /^[a-z0-9_]+$/;

export const KEY_STATES = ['pending', 'approved', 'revoked', 'expired'] as const;
export type KeyState = (typeof KEY_STATES)[number];

export interface RegisteredKey {
  service: string;
  kid: string;
  jwk: PublicJwk;
  /** As last written; effectiveState() adds what time has done since. */
  state: KeyState;
  /** ms since the epoch; null: the publisher gave no expiration. */
  expiresAt: number | null;
  /** The publisher's rotation period (the `rotation` query parameter), for operators. */
  rotationSeconds: number | null;
  createdAt: number;
  approvedAt: number | null;
  /** When the key stops being served: the end of the grace after a rotation replaced it, or when it was revoked. */
  revokeAt: number | null;
}

/** The state at `nowMs`: an approved or pending key whose expiry or revocation time has come is expired or revoked. */
export function effectiveState(key: RegisteredKey, nowMs: number): KeyState {
  if (key.state === 'revoked' || key.state === 'expired') return key.state;
  const expired = key.expiresAt !== null && key.expiresAt <= nowMs;
  const revoked = key.revokeAt !== null && key.revokeAt <= nowMs;
  // Whichever came first names the state.
  if (revoked && (!expired || key.revokeAt! <= key.expiresAt!)) return 'revoked';
  return expired ? 'expired' : key.state;
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isTimeOrNull = (value: unknown): value is number | null => value === null || isTime(value);

/** Checks a record read back from a file or Redis, which a person or another version may have written. */
export function parseRegisteredKey(value: unknown): RegisteredKey {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('a key record is not a JSON object');
  const record = value as Record<string, unknown>;
  const jwk = record.jwk as Record<string, unknown> | null;
  const problem =
    typeof record.service !== 'string'
      ? 'service'
      : typeof record.kid !== 'string'
        ? 'kid'
        : jwk === null || typeof jwk !== 'object' || typeof jwk.kty !== 'string' || jwk.kid !== record.kid
          ? 'jwk'
          : !KEY_STATES.includes(record.state as KeyState)
            ? 'state'
            : !isTimeOrNull(record.expiresAt)
              ? 'expiresAt'
              : !isTimeOrNull(record.rotationSeconds)
                ? 'rotationSeconds'
                : !isTime(record.createdAt)
                  ? 'createdAt'
                  : !isTimeOrNull(record.approvedAt)
                    ? 'approvedAt'
                    : !isTimeOrNull(record.revokeAt)
                      ? 'revokeAt'
                      : undefined;
  if (problem) throw new Error(`the key record ${JSON.stringify(record.service)}/${JSON.stringify(record.kid)} has an invalid "${problem}"`);
  return {
    service: record.service as string,
    kid: record.kid as string,
    jwk: jwk as PublicJwk,
    state: record.state as KeyState,
    expiresAt: record.expiresAt as number | null,
    rotationSeconds: record.rotationSeconds as number | null,
    createdAt: record.createdAt as number,
    approvedAt: record.approvedAt as number | null,
    revokeAt: record.revokeAt as number | null,
  };
}
