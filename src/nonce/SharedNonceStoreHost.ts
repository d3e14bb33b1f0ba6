// The primary process's side of the shared nonce stores: answers the workers' batched
// claims from its own stores (LocalNonceStores), so all workers share one replay view.
import type { Cluster, Worker } from 'node:cluster';
import type { Logger } from '../observability/logger';
import type { NonceStore } from './NonceStore';
import { isClaimBatch, isNonceMessage, type ClaimAnswerMessage, type ClaimBatchMessage, type ClaimOutcome, type IpcPeer } from './sharedNonceProtocol';

export class SharedNonceStoreHost {
  /** `stores` by the id the workers name them with, e.g. "verifier_proxies[0]". */
  constructor(
    private readonly stores: ReadonlyMap<string, NonceStore>,
    private readonly logger: Logger,
  ) {}

  /** Answers the claims `peer` sends; returns the function that stops answering it. */
  attach(peer: IpcPeer): () => void {
    const onMessage = (message: unknown): void => {
      if (isClaimBatch(message)) void this.answer(peer, message);
      else if (isNonceMessage(message)) this.logger.error({ message }, 'ignored a malformed nonce message from a worker');
    };
    peer.on('message', onMessage);
    return () => peer.off('message', onMessage);
  }

  /** Answers every worker `cluster` has forked or will fork; returns the function that stops it. */
  attachCluster(cluster: Cluster): () => void {
    const detachers = new Map<Worker, () => void>();
    const onFork = (worker: Worker): void => {
      if (!detachers.has(worker)) detachers.set(worker, this.attach(worker));
    };
    const onExit = (worker: Worker): void => {
      detachers.get(worker)?.();
      detachers.delete(worker);
    };
    for (const worker of Object.values(cluster.workers ?? {})) if (worker) onFork(worker);
    cluster.on('fork', onFork);
    cluster.on('exit', onExit);
    return () => {
      cluster.off('fork', onFork);
      cluster.off('exit', onExit);
      for (const detach of detachers.values()) detach();
      detachers.clear();
    };
  }

  private async answer(peer: IpcPeer, batch: ClaimBatchMessage): Promise<void> {
    const store = this.stores.get(batch.store);
    const outcomes: ClaimOutcome[] = store
      ? await Promise.all(batch.jtis.map((jti, index) => store.claim(jti, batch.expiresAtMs[index]).then(claimedOutcome, failureOutcome)))
      : batch.jtis.map(() => `the primary process has no local nonce store named ${JSON.stringify(batch.store)}`);
    const answer: ClaimAnswerMessage = { jwtproxy: 'nonce', kind: 'answer', store: batch.store, batch: batch.batch, outcomes };
    const onSendFailure = (error: Error): void => {
      // The worker is gone; its pending claims die with it.
      this.logger.debug({ err: error, store: batch.store }, 'could not answer a worker’s nonce claims');
    };
    try {
      peer.send(answer, (error) => {
        if (error) onSendFailure(error);
      });
    } catch (error) {
      onSendFailure(error as Error);
    }
  }
}

function claimedOutcome(claimed: boolean): ClaimOutcome {
  return claimed ? 1 : 0;
}

function failureOutcome(error: unknown): ClaimOutcome {
  return error instanceof Error ? error.message : String(error);
}
