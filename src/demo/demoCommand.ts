// `jwtproxy demo [-base-port N]`: runs the demo until SIGINT or SIGTERM. The ports are
// N (upstream), N+70 (Access stand-in), N+80 (signer), N+81 (verifier), N+82 (verifier
// behind Access) and N+90 (key registry); N is 8000.
import { UsageError } from '../cli/parseArgs';
import type { LogLevel } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { startDemo, type DemoPorts } from './runDemo';

export function demoPorts(basePort = 8000): DemoPorts {
  return { upstream: basePort, access: basePort + 70, signer: basePort + 80, verifier: basePort + 81, accessVerifier: basePort + 82, registry: basePort + 90 };
}

export async function runDemoCommand(flags: Record<string, string>, logLevel: LogLevel = 'warn'): Promise<number> {
  const base = flags['base-port'] === undefined ? 8000 : Number(flags['base-port']);
  if (!Number.isInteger(base) || base < 1 || base > 65_445) throw new UsageError('-base-port must be a port number from 1 to 65445');
  const demo = await startDemo(demoPorts(base), createLogger(logLevel));
  process.stdout.write(demo.instructions);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.stop();
  return 0;
}
