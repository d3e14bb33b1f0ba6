// `jwtproxy demo`: runs the demo until SIGINT or SIGTERM.
import type { LogLevel } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { DEFAULT_DEMO_PORTS, startDemo } from './runDemo';

export async function runDemoCommand(logLevel: LogLevel = 'warn'): Promise<number> {
  const demo = await startDemo(DEFAULT_DEMO_PORTS, createLogger(logLevel));
  process.stdout.write(demo.instructions);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.stop();
  return 0;
}
