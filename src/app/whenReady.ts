// Readiness of a started group, which a verifier reaches only once it has its first key set.
import type { ServiceGroup } from '../util/ServiceGroup';

/** Calls `then` once the group reports ready (a verifier waits for its first key set). */
export function whenReady(group: ServiceGroup, then: () => void): void {
  if (group.ready()) return then();
  const timer = setInterval(() => {
    if (!group.ready()) return;
    clearInterval(timer);
    then();
  }, 200);
  timer.unref();
}
