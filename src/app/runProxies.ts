// Runs the configured services until SIGINT or SIGTERM, then stops them gracefully.
import type { Config } from '../config/types';
import type { Logger } from '../observability/logger';
import { systemClock } from '../util/clock';
import { buildServices } from './buildServices';
import { ServiceGroup } from './ServiceGroup';

/** Resolves with the process exit code. */
export async function runProxies(config: Config, logger: Logger): Promise<number> {
  const services = buildServices(config, { clock: systemClock, logger, clusterWorker: false });
  if (services.length === 0) {
    logger.info('No proxy is enabled. Terminating.');
    return 0;
  }
  const group = new ServiceGroup(services);
  try {
    await group.start();
  } catch (error) {
    logger.error({ err: error }, 'failed to start');
    return 1;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping');
  // A second signal while draining means "now".
  const forceExit = () => process.exit(1);
  process.once('SIGINT', forceExit);
  process.once('SIGTERM', forceExit);
  await group.stop();
  logger.info('stopped');
  return 0;
}
