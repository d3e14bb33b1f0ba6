// A key storage outage as operators should see it: one line when the storage starts failing,
// one when it works again with how many operations were refused meanwhile — never a line per
// request, which a busy registry would turn into a flood.
import type { Logger } from '../observability/logger';

export class StorageOutage {
  private since?: number;
  private refused = 0;

  constructor(
    private readonly logger: Logger,
    private readonly messages: { down: string; up: string },
    private readonly now: () => number = Date.now,
  ) {}

  get ongoing(): boolean {
    return this.since !== undefined;
  }

  /** The storage cannot be used (found out by an operation or a connection event). Logged once per outage. */
  down(error: unknown): void {
    if (this.since !== undefined) return;
    this.since = this.now();
    this.refused = 0;
    this.logger.error({ err: error }, this.messages.down);
  }

  /** An operation failed for it: counted, and the outage begins if it had not. */
  refusedOperation(error: unknown): void {
    this.down(error);
    this.refused++;
  }

  /** The storage works again: logged once, with the outage's length and count. */
  up(): void {
    if (this.since === undefined) return;
    this.logger.info({ refusedOperations: this.refused, downForMs: this.now() - this.since }, this.messages.up);
    this.since = undefined;
  }
}
