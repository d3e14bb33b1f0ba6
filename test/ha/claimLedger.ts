// Counts, per token id, how many claims were accepted across every store: the HA tests' one invariant
// is that no count ever exceeds one, whatever Redis goes through meanwhile.
import type { NonceStore } from '../../src/nonce/NonceStore';

export class ClaimLedger {
  readonly accepted = new Map<string, number>();
  refused = 0;
  private issued = 0;

  constructor(private readonly prefix: string) {}

  nextJti(): string {
    return `${this.prefix}-${process.pid}-${++this.issued}`;
  }

  /** Claims `jti` once in each store, all at once, as copies of one token sent to several instances. */
  async claimEverywhere(stores: NonceStore[], jti: string): Promise<number> {
    const results = await Promise.all(stores.map((store) => store.claim(jti, Date.now() + 600_000).catch(() => undefined)));
    let accepted = 0;
    for (const result of results) {
      if (result === true) accepted++;
      if (result === undefined) this.refused++;
    }
    if (accepted > 0) this.accepted.set(jti, (this.accepted.get(jti) ?? 0) + accepted);
    return accepted;
  }

  /** `workers` loops of claimEverywhere on fresh token ids until `done()`; bounded by `maxMs`. */
  async load(stores: NonceStore[], done: () => boolean, workers = 4, maxMs = 60_000): Promise<void> {
    const deadline = Date.now() + maxMs;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (!done() && Date.now() < deadline) {
          await this.claimEverywhere(stores, this.nextJti());
          // Leave the event loop to the test's own steps (failover commands, polling).
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
  }

  /** Token ids accepted more than once: must stay empty. */
  replays(): string[] {
    return [...this.accepted].filter(([, count]) => count > 1).map(([jti]) => jti);
  }
}
