// A worker's channel to its primary process: one listener on the IPC pipe hands each of the
// primary's messages to the handlers of its topic; every part of the worker sends through it.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../observability/logger';
import type { ClusterMessage, MessageOf, Topic } from './messages';
import { MessageRouter } from './MessageRouter';

/** The pipe to the primary: `process` in a cluster worker (a ChildProcess stands in for a primary in tests). */
export type IpcPipe = Pick<NodeJS.Process | ChildProcess, 'on' | 'off' | 'connected'> & {
  send?(message: ClusterMessage, sendHandle: undefined, options: undefined, callback: (error: Error | null) => void): boolean;
};

export class PrimaryChannel {
  private readonly router: MessageRouter<void>;
  private readonly disconnectListeners = new Set<() => void>();
  private readonly onMessage = (message: unknown): void => this.router.deliver(message, undefined);
  private readonly onPipeClosed = (): void => {
    for (const listener of this.disconnectListeners) listener();
  };

  constructor(
    private readonly pipe: IpcPipe,
    logger: Logger,
  ) {
    this.router = new MessageRouter(logger);
    pipe.on('message', this.onMessage);
    pipe.on('disconnect', this.onPipeClosed);
  }

  /** This process's channel to the process that forked it: a cluster worker's to its primary. */
  static ofParentProcess(logger: Logger): PrimaryChannel {
    if (!process.send) throw new Error('this process has no IPC channel to a primary: it is not a cluster worker');
    return new PrimaryChannel(process as IpcPipe, logger);
  }

  get connected(): boolean {
    return this.pipe.connected;
  }

  /** Calls `handler` with each message of `topic` from the primary; returns the function that stops it. */
  on<T extends Topic>(topic: T, handler: (message: MessageOf<T>) => void): () => void {
    return this.router.on(topic, handler);
  }

  /** Calls `listener` when the primary is gone; returns the function that stops it. */
  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  /** Sends `message`; `onError` hears when it could not be sent (the primary is gone), `onSent` when it was. */
  send(message: ClusterMessage, onError: (error: Error) => void = () => undefined, onSent?: () => void): void {
    try {
      if (!this.pipe.send) throw new Error('the IPC channel is closed');
      this.pipe.send(message, undefined, undefined, (error) => (error ? onError(error) : onSent?.()));
    } catch (error) {
      onError(error as Error);
    }
  }

  /** Stops listening, so that the IPC pipe no longer holds the process open. */
  close(): void {
    this.pipe.off('message', this.onMessage);
    this.pipe.off('disconnect', this.onPipeClosed);
  }
}
