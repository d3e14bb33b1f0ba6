// The primary's channel to its workers: one `cluster` listener hands each worker's message
// to the handlers of its topic, with the worker it came from.
import type { Cluster, Worker } from 'node:cluster';
import type { Logger } from '../observability/logger';
import type { ClusterMessage, MessageOf, Topic } from './messages';
import { MessageRouter } from './MessageRouter';

export class WorkersChannel {
  private readonly router: MessageRouter<Worker>;
  private readonly onMessage = (worker: Worker, message: unknown): void => this.router.deliver(message, worker);

  constructor(
    private readonly cluster: Cluster,
    logger: Logger,
  ) {
    this.router = new MessageRouter(logger);
    cluster.on('message', this.onMessage);
  }

  /** Calls `handler` with each message of `topic` and the worker that sent it; returns the function that stops it. */
  on<T extends Topic>(topic: T, handler: (message: MessageOf<T>, worker: Worker) => void): () => void {
    return this.router.on(topic, handler);
  }

  /** Sends `message` to `worker`; `onError` hears when it could not be sent (the worker is gone). */
  send(worker: Worker, message: ClusterMessage, onError: (error: Error) => void = () => undefined): void {
    if (!worker.isConnected()) return onError(new Error(`worker ${worker.id} is disconnected`));
    try {
      worker.send(message, undefined, (error) => error && onError(error));
    } catch (error) {
      onError(error as Error);
    }
  }

  /** Sends `message` to every connected worker. */
  broadcast(message: ClusterMessage): void {
    for (const worker of this.connected()) this.send(worker, message);
  }

  connected(): Worker[] {
    return Object.values(this.cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
  }

  close(): void {
    this.cluster.off('message', this.onMessage);
  }
}
