// Runs the built jwtproxy binary (dist/) with a tool subcommand; stdout and stderr apart, stdin optional.
import { spawn } from 'node:child_process';
import { CLI } from '../support/cli';

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(args: string[], options: { stdin?: string; cwd?: string } = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}
