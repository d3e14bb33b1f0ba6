// The real jwtproxy command line as a child process, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliLogLines, type CliLogLine } from './cliLogLines';

export const CLI = path.resolve(__dirname, '../../dist/cmd/jwtproxy.js');

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-test-'));
}

export class RunningCli {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Waits until the output has `count` lines containing `text`, or fails when the process exits. */
  async waitFor(text: string, count = 1, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.output.split(text).length - 1 < count) {
      if (this.child.exitCode !== null) throw new Error(`jwtproxy exited (${this.child.exitCode}) before "${text}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Waits until `count` JSON log lines have the message `msg`, and returns them. */
  async logLines(msg: string, count = 1, timeoutMs = 15_000): Promise<CliLogLine[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = cliLogLines(this.output).filter((line) => line.msg === msg);
      if (lines.length >= count) return lines;
      if (this.child.exitCode !== null) throw new Error(`jwtproxy exited (${this.child.exitCode}) before logging "${msg}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${msg}":\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /**
   * Where a listener is bound, as its start-up line names it: 'verifier proxy started' →
   * http://127.0.0.1:41234. With listen_addr port 0 this is how a test learns the port.
   */
  async boundAddress(msg: string, count = 1): Promise<string> {
    const [line] = await this.logLines(msg, count);
    if (typeof line.address !== 'string') throw new Error(`the "${msg}" line names no address: ${JSON.stringify(line)}`);
    return line.address;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export interface CliLaunch {
  /** Runs the program under `taskset -c <cpus>`, e.g. "0": the CPUs it may use. */
  cpus?: string;
}

/** Writes `yaml` to a temporary file and runs `jwtproxy -config <file> ...args`. */
export function runCli(yaml: string | undefined, args: string[] = [], env: NodeJS.ProcessEnv = {}, launch: CliLaunch = {}): RunningCli {
  const configArgs: string[] = [];
  if (yaml !== undefined) {
    const file = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(file, yaml);
    configArgs.push('-config', file);
  }
  const command = [process.execPath, CLI, ...configArgs, ...args];
  // taskset execs the program: the child's pid stays the program's.
  if (launch.cpus !== undefined) command.unshift('taskset', '-c', launch.cpus);
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new RunningCli(child);
}
