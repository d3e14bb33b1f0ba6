// Long-lived components started in order and stopped in reverse order; a failed
// start stops what had started, so a bad proxy never leaves the others running.

export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads what may change on disk (keys, certificates) without dropping connections (SIGHUP). */
  reload?(): Promise<void>;
  /** False while the service cannot serve yet (e.g. no key set); absent means ready once started. */
  ready?(): boolean;
}

export class ServiceGroup implements Service {
  private readonly started: Service[] = [];

  constructor(private readonly services: Service[]) {}

  async start(): Promise<void> {
    for (const service of this.services) {
      try {
        await service.start();
      } catch (error) {
        await this.stop();
        throw error;
      }
      this.started.push(service);
    }
  }

  /** Every service has started and reports ready. */
  ready(): boolean {
    return this.started.length === this.services.length && this.started.every((service) => service.ready?.() ?? true);
  }

  /** Reloads every started service that can; one failing (kept as it was) does not stop the others. */
  async reload(): Promise<void> {
    const failures: unknown[] = [];
    for (const service of this.started) await service.reload?.().catch((error: unknown) => failures.push(error));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, failures.map((error) => (error as Error).message).join('; '));
  }

  /** Stops every started service, even when one of them fails to stop; rethrows the first failure. */
  async stop(): Promise<void> {
    let firstError: unknown;
    while (this.started.length > 0) {
      const service = this.started.pop()!;
      await service.stop().catch((error: unknown) => (firstError ??= error));
    }
    if (firstError) throw firstError;
  }
}
