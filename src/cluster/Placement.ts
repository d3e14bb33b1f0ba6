// Where a component runs when several workers serve the proxies: its own in each worker, or one
// in the primary, which every worker reaches through a relay (so all of them share its state).
import type { Logger } from '../observability/logger';
import type { PrimaryChannel } from './PrimaryChannel';

export type Placement<Component> =
  | { runs: 'each-worker' }
  | {
      runs: 'primary';
      /** What a worker builds instead: a relay to the primary's one, named `id` in both. */
      relay(primary: PrimaryChannel, id: string, logger: Logger): Component;
    };

export const EACH_WORKER = { runs: 'each-worker' } as const;
