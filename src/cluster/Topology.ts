// Where this process stands: alone, the primary of `workers` workers, or worker `id`, which
// reaches its primary through `primary`. Decided once at start-up and passed to what is built.
import type { PrimaryChannel } from './PrimaryChannel';

export type Topology = { role: 'single' } | { role: 'primary'; workers: number } | { role: 'worker'; id: number; primary: PrimaryChannel };

export const SINGLE_PROCESS: Topology = { role: 'single' };
