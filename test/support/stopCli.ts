// Stops a jwtproxy child process for test cleanup: SIGTERM, then SIGKILL if it hangs.
import type { RunningCli } from './cli';

export async function stopCli(cli: RunningCli, graceMs = 5000): Promise<void> {
  const { child } = cli;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await cli.exited;
  clearTimeout(timer);
}
