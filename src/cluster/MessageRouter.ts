// Hands each cluster message to the handlers of its topic. One router per process end:
// a worker's, whose messages all come from the primary, and the primary's, whose messages
// come from a worker (`From`).
import type { Logger } from '../observability/logger';
import { isClusterMessage, isTagged, type ClusterMessage, type MessageOf, type Topic } from './messages';

export type Handler<T extends Topic, From> = (message: MessageOf<T>, from: From) => void;
type AnyHandler<From> = (message: ClusterMessage, from: From) => void;

export class MessageRouter<From> {
  private readonly handlers = new Map<Topic, Set<AnyHandler<From>>>();

  constructor(private readonly logger: Logger) {}

  /** Calls `handler` with each message of `topic`; returns the function that stops it. */
  on<T extends Topic>(topic: T, handler: Handler<T, From>): () => void {
    let handlers = this.handlers.get(topic);
    if (!handlers) this.handlers.set(topic, (handlers = new Set()));
    // Only messages of `topic` reach it: see deliver.
    const stored = handler as unknown as AnyHandler<From>;
    handlers.add(stored);
    return () => handlers.delete(stored);
  }

  /** Delivers a message that arrived from `from`; untagged traffic is not ours and passes by. */
  deliver(message: unknown, from: From): void {
    if (!isTagged(message)) return;
    if (!isClusterMessage(message)) {
      this.logger.error({ message }, 'ignored a malformed cluster message');
      return;
    }
    for (const handler of this.handlers.get(message.jwtproxy) ?? []) handler(message, from);
  }
}
