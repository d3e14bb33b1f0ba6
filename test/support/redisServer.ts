// A real redis-server on loopback, for tests; no persistence. redis-server cannot bind port 0 and
// report the port it got, so it is given a port nothing listens on (closedPort()); when another
// process takes that port first, the start moves on to another one. The server answering on the
// port is checked to be this one (by its process id), never another test's.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { closedPort } from './closedPort';

const START_ATTEMPTS = 5;

/** Whether the Redis server answering on `port` is the process `pid`: INFO server names its process_id. */
function answersAs(port: number, pid: number | undefined, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    let received = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('close', () => resolve(false));
    socket.once('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}INFO server\r\n`));
    socket.on('data', (data) => {
      received += data.toString();
      const match = /process_id:(\d+)/.exec(received);
      if (match && /\r\n/.test(received.slice(match.index))) {
        resolve(Number(match[1]) === pid);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  });
}

export class RedisServer {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly args: string[],
    /** The default user's password (requirepass), for the start-up check. */
    private readonly password?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A started redis-server; `args` come first on its command line (a config file, --cluster-enabled yes…). */
  static async start(args: string[] = [], options: { password?: string } = {}): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(await closedPort(), args, options.password);
      try {
        await server.start();
        return server;
      } catch (error) {
        await server.kill();
        if (attempt === START_ATTEMPTS) throw error;
      }
    }
  }

  /** Starts (or restarts, on the same port) the server and waits until it answers. */
  async start(): Promise<void> {
    const child = spawn('redis-server', [...this.args, '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await answersAs(this.port, child.pid, this.password))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) on start on port ${this.port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the server at once, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
