// The examples run as their comments say: the lines `#   $ command` of each example, in order,
// in a fresh folder holding the examples, with `npx jwtproxy` being this checkout's build,
// `npm ci` done already, and every local port replaced by a free one (the machine is shared).
// A command ending in `&` keeps running in the background; a curl with `# NNN` must answer NNN
// (000: no answer at all, e.g. a TLS handshake refused).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tempDir } from '../support/cli';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cmd/jwtproxy.js');
/** The shipped configurations, as paths from the checkout: the reference and the examples. */
const SHIPPED = [
  'config.example.yaml',
  ...fs
    .readdirSync(path.join(ROOT, 'examples'))
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => `examples/${file}`),
];

interface Step {
  command: string;
  background: boolean;
  /** The HTTP status a curl must answer, as curl's %{http_code} writes it. */
  status?: string;
}

function stepsOf(text: string): Step[] {
  return [...text.matchAll(/^#\s+\$ (.*)$/gm)].map(([, line]) => {
    const [command, comment] = line.split(/\s+#\s+/, 2);
    const background = /&\s*$/.test(command);
    return { command: command.replace(/&\s*$/, '').trim(), background, status: comment && /^\d{3}\b/.test(comment) ? comment.slice(0, 3) : undefined };
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function run(command: string, cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { cwd, timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: stdout + stderr });
    });
  });
}

/** Examples that cannot run on one machine: they verify tokens of a real Cloudflare Access team. */
const NEED_OUTSIDE_SERVICE = [
  'examples/access-policy.yaml', // and an Open Policy Agent server
  'examples/cloudflare-access-device-posture.yaml',
  'examples/cloudflare-access-external-evaluation.yaml',
  'examples/cloudflare-access-forward-auth.yaml',
];

/** A port the example listens on or connects to on this machine: `127.0.0.1:N`, `localhost:N`, `listen_addr: :N`, `--port N`. */
const LOCAL_PORT = /(?:127\.0\.0\.1:|localhost:|\s:|--port )(\d{4,5})\b/g;

const runnable = SHIPPED.filter((file) => stepsOf(fs.readFileSync(path.join(ROOT, file), 'utf8')).length > 0);

test('every example gives its commands, unless it needs a service outside this machine', () => {
  expect(SHIPPED.filter((file) => !runnable.includes(file))).toEqual(NEED_OUTSIDE_SERVICE);
});

test.each(runnable)(
  '%s runs as its comments say',
  async (file) => {
    const folder = tempDir();
    fs.cpSync(path.join(ROOT, 'examples'), path.join(folder, 'examples'), { recursive: true });
    const original = fs.readFileSync(path.join(ROOT, file), 'utf8');
    const steps = stepsOf(original);
    // Every fixed port of the example, in its commands and its configuration, becomes a free one.
    const ports = new Set([...original.matchAll(LOCAL_PORT)].map((match) => match[1]));
    const replacement = new Map<string, string>();
    for (const port of ports) replacement.set(port, String(await freePort()));
    const rewrite = (text: string) => text.replace(/\b\d{4,5}\b/g, (port) => replacement.get(port) ?? port);
    fs.writeFileSync(path.join(folder, file), rewrite(original));
    const background: { command: string; child: ChildProcess; output: string[] }[] = [];
    // What the background commands printed, their last lines: why a curl got no answer, or the wrong one.
    const backgroundOutput = () => background.map(({ command, output }) => `$ ${command}\n${output.join('').split('\n').slice(-20).join('\n')}`).join('\n');
    try {
      for (const step of steps) {
        if (step.command === 'npm ci') continue;
        const command = rewrite(step.command).replace(/\bnpx jwtproxy\b/g, `"${process.execPath}" "${CLI}"`);
        if (step.background) {
          const child = spawn('bash', ['-c', `exec ${command}`], { cwd: folder, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
          const output: string[] = [];
          child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
          child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
          background.push({ command: step.command, child, output });
          continue;
        }
        if (step.status !== undefined) {
          // What runs in the background may still be starting: ask again for a while.
          const deadline = Date.now() + 15_000;
          let last = '';
          for (;;) {
            const { output } = await run(`${command} -s -o /dev/null -w '%{http_code}'`, folder);
            last = output;
            if (output === step.status || Date.now() > deadline) break;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          const answer = { command: step.command, status: last, background: last === step.status ? '' : backgroundOutput() };
          expect(answer).toEqual({ command: step.command, status: step.status, background: '' });
          continue;
        }
        const { code, output } = await run(command, folder);
        expect({ command: step.command, code, output: code === 0 ? '' : output }).toEqual({ command: step.command, code: 0, output: '' });
      }
    } finally {
      for (const { child } of background) {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
  },
  60_000,
);
