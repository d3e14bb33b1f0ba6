// The signals a serving process answers: SIGHUP reloads (held from the start until the reload
// handler is in place), SIGINT and SIGTERM stop it after the drain period, and a second one
// while it stops ends it at once.
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { Logger } from '../observability/logger';
import type { ServiceGroup } from '../util/ServiceGroup';
import type { Config } from './loadConfig';
import type { PolicyReloader } from './PolicyReloader';

export interface ReloadTriggers {
  /** A worker also reloads when its primary says so. */
  primary?: PrimaryChannel;
  /** Runs first on each reload: the primary checks the file and tells its workers whether to take its policy. */
  relay?: () => Promise<void>;
  /** Replaces the verifiers' policies from the re-read file. */
  policy?: PolicyReloader;
}

/**
 * On SIGHUP (or, in a worker, the primary's word) re-reads the configuration's policy, keys and
 * certificates without dropping connections; what fails to load is logged and the old one stays
 * in use. Returns the function that stops reloading, which returns the one that stops ignoring
 * SIGHUP once the process has stopped.
 */
export function reloadOnHangup(group: ServiceGroup, logger: Logger, triggers: ReloadTriggers = {}, held?: HeldHangups): () => () => void {
  const reload = async (policy: boolean, quiet: boolean) => {
    await triggers.relay?.();
    if (policy) await triggers.policy?.reload({ quiet });
    await group.reload().then(
      () => logger.info('reloaded keys and certificates'),
      (error: Error) => logger.error({ err: error }, 'reload failed; the previous keys and certificates stay in use'),
    );
  };
  const onSignal = () => void reload(true, false);
  process.on('SIGHUP', onSignal);
  if (held?.release()) onSignal();
  // The primary has checked the file and warned about it: a worker takes the policy quietly, or not at all.
  const stopHearingPrimary = triggers.primary?.on('reload', (message) => void reload(message.policy !== false, true));
  return () => {
    process.off('SIGHUP', onSignal);
    stopHearingPrimary?.();
    // Node ends a process on a SIGHUP nobody listens to: one during the drain or the stop (a log
    // rotation) must not cut the connections the stop is letting finish.
    const ignore = (): void => logger.info('SIGHUP ignored: stopping');
    process.on('SIGHUP', ignore);
    return () => void process.off('SIGHUP', ignore);
  };
}

export interface HeldHangups {
  /** Stops holding; true when a SIGHUP came meanwhile. */
  release(): boolean;
}

/**
 * From the start of a process until its reload handler is in place, a SIGHUP is held (Node would
 * end the process on it) and carried out once the handler is there.
 */
export function holdHangups(): HeldHangups {
  let came = false;
  const hold = (): void => void (came = true);
  process.on('SIGHUP', hold);
  return {
    release: () => {
      process.off('SIGHUP', hold);
      return came;
    },
  };
}

/** Resolves with what asked this process to stop: a signal, (in a worker) the primary, or `failed` with its reason. */
export async function stopRequested(primary?: PrimaryChannel, failed?: Promise<string>): Promise<string> {
  let stopHearingPrimary: (() => void) | undefined;
  let onInterrupt!: () => void;
  let onTerminate!: () => void;
  const reason = await new Promise<string>((resolve) => {
    onInterrupt = () => resolve('SIGINT');
    onTerminate = () => resolve('SIGTERM');
    process.once('SIGINT', onInterrupt);
    process.once('SIGTERM', onTerminate);
    stopHearingPrimary = primary?.on('stop', () => resolve('stop from primary'));
    failed?.then(resolve);
  });
  // The other signal's listener goes too: a later signal belongs to whoever listens next (a second one ends the process).
  process.off('SIGINT', onInterrupt);
  process.off('SIGTERM', onTerminate);
  stopHearingPrimary?.();
  return reason;
}

/**
 * The drain period: readiness already answers 503 and the proxies keep serving, until load
 * balancers have taken this instance out (their health checks fail, endpoints are removed).
 * Another signal meanwhile ends it at once.
 */
export async function drain(config: Config, logger: Logger): Promise<void> {
  if (config.drainPeriodMs <= 0) return;
  logger.info({ drainPeriodMs: config.drainPeriodMs }, 'draining: /readyz answers 503 while the proxies keep serving until drain_period ends');
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = setTimeout(done, config.drainPeriodMs);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/** A second signal while the process stops means "now". */
export function exitOnSecondSignal(): void {
  process.once('SIGINT', () => process.exit(1));
  process.once('SIGTERM', () => process.exit(1));
}
