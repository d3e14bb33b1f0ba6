// `jwtproxy demo [-base-port N]`: runs the demo until SIGINT or SIGTERM. The ports are
// N (upstream), N+70 (Access stand-in), N+80 (signer), N+81 (verifier), N+82 (verifier
// behind Access) and N+90 (key registry); N is 8000.
import { UsageError } from '../cli/parseArgs';
import type { LogLevel } from '../observability/logLevel';
import { createLogger } from '../observability/logger';
import { DEMO_BASE_PORT, DEMO_MAX_BASE_PORT } from './demoUsage';
import { startDemo, type DemoPorts } from './runDemo';

function demoPorts(basePort = DEMO_BASE_PORT): DemoPorts {
  return { upstream: basePort, access: basePort + 70, signer: basePort + 80, verifier: basePort + 81, accessVerifier: basePort + 82, registry: basePort + 90 };
}

export async function runDemoCommand(flags: Record<string, string>, logLevel: LogLevel = 'warn'): Promise<number> {
  const base = flags['base-port'] === undefined ? DEMO_BASE_PORT : Number(flags['base-port']);
  if (!Number.isInteger(base) || base < 1 || base > DEMO_MAX_BASE_PORT) throw new UsageError(`-base-port must be a port number from 1 to ${DEMO_MAX_BASE_PORT}`);
  const ports = demoPorts(base);
  let demo: Awaited<ReturnType<typeof startDemo>>;
  try {
    demo = await startDemo(ports, createLogger(logLevel));
  } catch (error) {
    const { code, port } = error as NodeJS.ErrnoException & { port?: number };
    if (code !== 'EADDRINUSE') throw error;
    // One line, no stack: the operator's fix is another base port.
    const taken = port ?? Number(/:(\d+)\s*$/.exec((error as Error).message)?.[1]);
    const role = Object.entries(ports).find(([, candidate]) => candidate === taken)?.[0];
    process.stderr.write(
      `jwtproxy demo: port ${taken}${role ? ` (${role})` : ''} is already in use: stop what listens there, or move the demo with -base-port N (it uses N, N+70, N+80, N+81, N+82 and N+90; now N is ${base})\n`,
    );
    return 1;
  }
  process.stdout.write(demo.instructions);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.stop();
  return 0;
}
