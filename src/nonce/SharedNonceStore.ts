// A cluster worker's view of a local nonce store held by the primary process, so that
// every worker shares one replay view. Claims go over IPC, batched per event-loop turn.
import type { MessageOf } from '../cluster/messages';
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { Logger } from '../observability/logger';
import { NonceStoreUnavailableError, type NonceStore } from './NonceStore';

export interface SharedNonceStoreOptions {
  /** The primary's name for the store, e.g. "verifier_proxies[0]". */
  id: string;
  /** The worker's channel to the primary. */
  channel: PrimaryChannel;
  /** How long claims wait for the primary's answer before they are refused. */
  answerTimeoutMs?: number;
  logger: Logger;
}

const DEFAULT_ANSWER_TIMEOUT_MS = 2000;

interface Waiter {
  resolve(claimed: boolean): void;
  reject(error: Error): void;
}

interface QueuedBatch {
  jtis: string[];
  expiresAtMs: number[];
  waiters: Waiter[];
}

interface SentBatch {
  waiters: Waiter[];
  timer: NodeJS.Timeout;
}

export class SharedNonceStore implements NonceStore {
  private readonly answerTimeoutMs: number;
  private started = false;
  private primaryGone = false;
  private queued?: QueuedBatch;
  private readonly sent = new Map<number, SentBatch>();
  private nextBatch = 1;
  private stopListening: (() => void)[] = [];

  constructor(private readonly options: SharedNonceStoreOptions) {
    this.answerTimeoutMs = options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopListening = [this.options.channel.on('nonce-answer', this.onAnswer), this.options.channel.onDisconnect(this.onDisconnect)];
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const stop of this.stopListening.splice(0)) stop();
    this.failEverything('the store is stopped');
  }

  claim(jti: string, expiresAtMs: number): Promise<boolean> {
    if (!this.started) return Promise.reject(this.unavailable('the store is not started'));
    if (this.primaryGone || !this.options.channel.connected) return Promise.reject(this.unavailable('the primary process is gone'));
    return new Promise((resolve, reject) => {
      let batch = this.queued;
      if (!batch) {
        // Claims made until the end of this event-loop turn travel in one message.
        batch = this.queued = { jtis: [], expiresAtMs: [], waiters: [] };
        setImmediate(this.flush);
      }
      batch.jtis.push(jti);
      batch.expiresAtMs.push(expiresAtMs);
      batch.waiters.push({ resolve, reject });
    });
  }

  private readonly flush = (): void => {
    const batch = this.queued;
    if (!batch) return;
    this.queued = undefined;
    const id = this.nextBatch++;
    const timer = setTimeout(() => this.fail(id, `the primary process did not answer within ${this.answerTimeoutMs} ms`), this.answerTimeoutMs);
    timer.unref();
    this.sent.set(id, { waiters: batch.waiters, timer });
    this.options.channel.send({ jwtproxy: 'nonce-claim', store: this.options.id, batch: id, jtis: batch.jtis, expiresAtMs: batch.expiresAtMs }, (error) =>
      this.fail(id, `cannot reach the primary process: ${error.message}`),
    );
  };

  private readonly onAnswer = (message: MessageOf<'nonce-answer'>): void => {
    if (message.store !== this.options.id) return;
    const batch = this.sent.get(message.batch);
    if (!batch) return; // Already refused by its timeout.
    if (message.outcomes.length !== batch.waiters.length) {
      this.fail(message.batch, `the primary answered ${message.outcomes.length} claims of ${batch.waiters.length}`);
      return;
    }
    clearTimeout(batch.timer);
    this.sent.delete(message.batch);
    batch.waiters.forEach((waiter, index) => {
      const outcome = message.outcomes[index];
      if (outcome === 1 || outcome === 0) waiter.resolve(outcome === 1);
      else waiter.reject(this.unavailable(String(outcome)));
    });
  };

  private readonly onDisconnect = (): void => {
    if (this.primaryGone) return;
    this.primaryGone = true;
    this.options.logger.error({ store: this.options.id }, 'lost the IPC channel to the primary process: refusing every token from now on');
    this.failEverything('the primary process is gone');
  };

  private fail(batchId: number, reason: string): void {
    const batch = this.sent.get(batchId);
    if (!batch) return;
    clearTimeout(batch.timer);
    this.sent.delete(batchId);
    for (const waiter of batch.waiters) waiter.reject(this.unavailable(reason));
  }

  private failEverything(reason: string): void {
    for (const batchId of [...this.sent.keys()]) this.fail(batchId, reason);
    const queued = this.queued;
    this.queued = undefined;
    for (const waiter of queued?.waiters ?? []) waiter.reject(this.unavailable(reason));
  }

  private unavailable(reason: string): NonceStoreUnavailableError {
    return new NonceStoreUnavailableError(`shared nonce store ${this.options.id}: ${reason}`);
  }
}
