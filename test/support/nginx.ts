// A real nginx (master and one worker, `daemon off`) with its whole state in a
// temporary directory: config, pid file, temp paths; errors on its stderr. nginx cannot
// listen on port 0 and report the port, so it gets a port found free by binding port 0
// in node and closing it; if another process takes that port first, nginx's bind fails
// with EADDRINUSE and it is started again on another one.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { closedPort } from './closedPort';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/opt/homebrew/bin/nginx'];
const START_ATTEMPTS = 5;

/** The nginx binary; throws (fails the test, never skips it) when there is none. */
export function nginxBinary(): string {
  const found = process.env.NGINX ?? CANDIDATES.find((file) => fs.existsSync(file)) ?? onPath();
  if (!found || !fs.existsSync(found))
    throw new Error('nginx is not installed: the nginx auth_request end-to-end tests need it (e.g. apt-get install nginx), with its auth_request module; set NGINX=/path/to/nginx if it is elsewhere');
  // nginx -V prints its configure arguments on stderr.
  const version = spawnSync(found, ['-V'], { encoding: 'utf8' });
  const configure = `${version.stdout}${version.stderr}`;
  if (!configure.includes('--with-http_auth_request_module')) throw new Error(`${found} was built without the auth_request module (--with-http_auth_request_module)`);
  return found;
}

function onPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export class RunningNginx {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Fast shutdown (SIGTERM); SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The nginx.conf around `http` (directives of the http block, e.g. a server block
 * listening on 127.0.0.1:<port>), with every path inside `dir`.
 */
function mainConfig(dir: string, http: string): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body_temp;
    proxy_temp_path ${dir}/proxy_temp;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;
${http}
}
`;
}

/** Starts nginx with `http(port)` as its http block's directives; resolves once it listens. */
export async function startNginx(dir: string, http: (port: number) => string): Promise<RunningNginx> {
  const binary = nginxBinary();
  // The worker runs as another user when the master is root: it must reach the directory.
  fs.chmodSync(dir, 0o755);
  let lastOutput = '';
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = await closedPort();
    const configFile = path.join(dir, 'nginx.conf');
    const pidFile = path.join(dir, 'nginx.pid');
    fs.writeFileSync(configFile, mainConfig(dir, http(port)));
    fs.rmSync(pidFile, { force: true });
    const child = spawn(binary, ['-p', `${dir}/`, '-e', 'stderr', '-c', configFile, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const nginx = new RunningNginx(child, port);
    // nginx writes its pid file once its listening sockets are bound.
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(child.pid)) return nginx;
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (Date.now() > deadline) {
        await nginx.stop();
        throw new Error(`nginx did not start within 15 s:\n${nginx.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await nginx.exited;
    lastOutput = nginx.output;
    if (!/Address already in use/.test(lastOutput)) throw new Error(`nginx failed to start:\n${lastOutput}`);
  }
  throw new Error(`nginx found no free port in ${START_ATTEMPTS} attempts:\n${lastOutput}`);
}
