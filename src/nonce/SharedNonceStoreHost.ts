// The primary process's side of the shared nonce stores: answers the workers' batched
// claims from its own stores (LocalNonceStores), so all workers share one replay view.
import type { Worker } from 'node:cluster';
import type { ClaimOutcome, MessageOf } from '../cluster/messages';
import type { WorkersChannel } from '../cluster/WorkersChannel';
import type { Logger } from '../observability/logger';
import type { NonceStore } from './NonceStore';

export class SharedNonceStoreHost {
  /** `stores` by the id the workers name them with, e.g. "verifier_proxies[0]". */
  constructor(
    private readonly stores: ReadonlyMap<string, NonceStore>,
    private readonly logger: Logger,
  ) {}

  /** Answers the claims every worker sends over `workers`; returns the function that stops answering. */
  attach(workers: WorkersChannel): () => void {
    return workers.on('nonce-claim', (batch, worker) => void this.answer(workers, worker, batch));
  }

  private async answer(workers: WorkersChannel, worker: Worker, batch: MessageOf<'nonce-claim'>): Promise<void> {
    const store = this.stores.get(batch.store);
    const outcomes: ClaimOutcome[] = store
      ? await Promise.all(batch.jtis.map((jti, index) => store.claim(jti, batch.expiresAtMs[index]).then(claimedOutcome, failureOutcome)))
      : batch.jtis.map(() => `the primary process has no local nonce store named ${JSON.stringify(batch.store)}`);
    workers.send(worker, { jwtproxy: 'nonce-answer', store: batch.store, batch: batch.batch, outcomes }, (error) => {
      // The worker is gone; its pending claims die with it.
      this.logger.debug({ err: error, store: batch.store }, 'could not answer a worker’s nonce claims');
    });
  }
}

function claimedOutcome(claimed: boolean): ClaimOutcome {
  return claimed ? 1 : 0;
}

function failureOutcome(error: unknown): ClaimOutcome {
  return error instanceof Error ? error.message : String(error);
}
