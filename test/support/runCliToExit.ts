// Runs the real jwtproxy command line to completion and returns its exit code and output.
import { execFile } from 'node:child_process';
import { CLI } from './cli';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCliToExit(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 10_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
