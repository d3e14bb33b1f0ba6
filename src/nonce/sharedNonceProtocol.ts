// The IPC messages by which cluster workers claim token ids in the primary's local nonce stores.
// Tagged `jwtproxy: 'nonce'` so that other traffic on the same channel passes by untouched.

/** A batch of claims on one store, made by a worker within one event-loop turn. */
export interface ClaimBatchMessage {
  jwtproxy: 'nonce';
  kind: 'claim';
  /** The store's id, e.g. "verifier_proxies[0]". */
  store: string;
  /** Numbers the batch within its sender, to match the answer. */
  batch: number;
  jtis: string[];
  /** Each claim's token expiry, same index as `jtis`. */
  expiresAtMs: number[];
}

/** 1 = claimed, 0 = already used, a string = why the store could not answer. */
export type ClaimOutcome = 1 | 0 | string;

/** The primary's answer to one batch, an outcome per claim in the batch's order. */
export interface ClaimAnswerMessage {
  jwtproxy: 'nonce';
  kind: 'answer';
  store: string;
  batch: number;
  outcomes: ClaimOutcome[];
}

export type NonceMessage = ClaimBatchMessage | ClaimAnswerMessage;

/**
 * One end of an IPC channel: `process` in a worker (see parentProcessChannel), a
 * cluster Worker or a ChildProcess in the primary.
 */
export interface IpcChannel {
  send(message: NonceMessage, callback: (error: Error | null) => void): boolean;
  on(event: 'message' | 'disconnect', listener: (message: unknown) => void): unknown;
  off(event: 'message' | 'disconnect', listener: (message: unknown) => void): unknown;
  readonly connected: boolean;
}

/** What the primary needs of a worker's end: a cluster Worker has no `connected` property. */
export type IpcPeer = Pick<IpcChannel, 'send' | 'on' | 'off'>;

/** This process's channel to the process that forked it (the cluster primary, for a worker). */
export function parentProcessChannel(): IpcChannel {
  const send = process.send?.bind(process);
  if (!send) throw new Error('this process has no IPC channel to a parent: only a cluster worker can use the shared nonce store');
  return {
    send: (message, callback) => send(message, undefined, undefined, callback),
    on: (event, listener) => process.on(event, listener),
    off: (event, listener) => process.off(event, listener),
    get connected() {
      return process.connected;
    },
  };
}

export function isNonceMessage(message: unknown): message is { jwtproxy: 'nonce' } {
  return typeof message === 'object' && message !== null && (message as { jwtproxy?: unknown }).jwtproxy === 'nonce';
}

export function isClaimBatch(message: unknown): message is ClaimBatchMessage {
  if (!isNonceMessage(message)) return false;
  const batch = message as Partial<ClaimBatchMessage>;
  return (
    batch.kind === 'claim' &&
    typeof batch.store === 'string' &&
    Number.isInteger(batch.batch) &&
    Array.isArray(batch.jtis) &&
    Array.isArray(batch.expiresAtMs) &&
    batch.jtis.length === batch.expiresAtMs.length &&
    batch.jtis.every((jti) => typeof jti === 'string') &&
    batch.expiresAtMs.every((expiresAtMs) => typeof expiresAtMs === 'number')
  );
}

export function isClaimAnswer(message: unknown): message is ClaimAnswerMessage {
  if (!isNonceMessage(message)) return false;
  const answer = message as Partial<ClaimAnswerMessage>;
  return answer.kind === 'answer' && typeof answer.store === 'string' && Number.isInteger(answer.batch) && Array.isArray(answer.outcomes);
}
