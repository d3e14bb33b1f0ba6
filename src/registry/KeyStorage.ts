// Where the registry keeps its keys (memory, a file, Redis). One atomic operation, update(),
// is enough for every state change, including between several registry processes.
import { JwtproxyError } from '../util/JwtproxyError';
import type { RegisteredKey } from './RegisteredKey';

/**
 * What to make of a key given its current record (undefined: unknown) and the other keys of its
 * service as they are at the same moment: a record is written, null deletes it, undefined leaves
 * it as it is. May throw to abort the update.
 */
export type KeyChange = (current: RegisteredKey | undefined, others: readonly RegisteredKey[]) => RegisteredKey | null | undefined;

export interface KeyStorage {
  get(service: string, kid: string): Promise<RegisteredKey | undefined>;
  /** Every key, or every key of one service, in no particular order. */
  list(service?: string): Promise<RegisteredKey[]>;
  /**
   * Applies `change` to the current record atomically: no other update of any key of the same
   * service, from this process or another, comes in between (so "the service's first key" is
   * decided once, across processes). `change` may run more than once (optimistic concurrency),
   * so it must be pure. Resolves to the record as stored afterwards.
   */
  update(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The storage cannot answer (Redis down, file unreadable or corrupt): requests get 503. The
 * storage logs its outages itself, when they start and end (StorageOutage); callers log these at debug.
 */
export class KeyStorageError extends JwtproxyError {
  readonly code = 'ERR_KEY_STORAGE';
}
