// A rolling restart of three jwtproxy verifiers behind a real HAProxy that never retries, under
// load: with drain_period, each instance's /readyz turns 503 while it keeps serving, HAProxy's
// health check takes it out, and only then does it close, so no request is lost. The instances
// run as docs/running.md says to run jwtproxy under a supervisor: bin/jwtproxy itself receives SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningCli } from '../support/cli';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { closedPort } from '../support/closedPort';
import { eventually } from '../support/eventually';
import { mintToken } from '../support/mintToken';
import { RedisServer } from '../support/redisServer';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

jest.setTimeout(180_000);

const BIN = path.resolve(__dirname, '../../bin/jwtproxy');
const HAPROXY = fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

let folder: string;
let redis: RedisServer;
let upstream: TestUpstream;
let upstreamUrl: string;
let haproxy: ChildProcess | undefined;
const instances: { listenPort: number; healthPort: number; cli?: RunningCli }[] = [];

function startInstance(index: number): RunningCli {
  const instance = instances[index];
  const yaml =
    cliVerifierYaml({
      listen: `127.0.0.1:${instance.listenPort}`,
      upstream: upstreamUrl,
      workers: 1,
      shutdownTimeout: '5s',
      nonceStorage: `{type: redis, options: {url: "${redis.url}"}}`,
    }) + ['  drain_period: 1500ms', `  observability: {listen_addr: "127.0.0.1:${instance.healthPort}"}`, ''].join('\n');
  const file = path.join(folder, `instance${index}.yaml`);
  fs.writeFileSync(file, yaml);
  // The documented command for supervisors: the program itself, so that it gets the signals.
  const cli = new RunningCli(spawn(BIN, ['-config', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
  instance.cli = cli;
  return cli;
}

const get = (url: string, agent?: http.Agent, headers: http.OutgoingHttpHeaders = {}): Promise<number> =>
  new Promise((resolve) => {
    const request = http.get(url, { agent, headers, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    request.on('error', () => resolve(0));
    request.on('timeout', () => request.destroy());
  });

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-ha-rolling-'));
  redis = await RedisServer.start(['--dir', folder]);
  upstream = new TestUpstream();
  upstreamUrl = await upstream.listen();
  for (let i = 0; i < 3; i++) instances.push({ listenPort: await closedPort(), healthPort: await closedPort() });
});

afterAll(async () => {
  haproxy?.kill('SIGKILL');
  await Promise.all(instances.map((instance) => instance.cli && stopCli(instance.cli)));
  await upstream.close();
  await redis.kill();
  fs.rmSync(folder, { recursive: true, force: true });
});

test('a rolling restart of 3 instances under load behind a non-retrying HAProxy loses no request', async () => {
  await Promise.all(instances.map((_, index) => startInstance(index).logLines('verifier proxy started')));
  const frontPort = await closedPort();
  const haproxyConfig = path.join(folder, 'haproxy.cfg');
  fs.writeFileSync(
    haproxyConfig,
    [
      'global',
      '  log stderr format raw local0 err',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 10s',
      '  timeout server 10s',
      // No second chance for a request: what the instance drops is lost.
      '  retries 0',
      'frontend front',
      `  bind 127.0.0.1:${frontPort}`,
      '  default_backend verifiers',
      'backend verifiers',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      ...instances.map((instance, index) => `  server v${index} 127.0.0.1:${instance.listenPort} check port ${instance.healthPort} inter 200ms fall 1 rise 2`),
      '',
    ].join('\n'),
  );
  haproxy = spawn(HAPROXY, ['-f', haproxyConfig, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const front = `http://127.0.0.1:${frontPort}/`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  await eventually(async () => (await get(front, agent, { authorization: `Bearer ${await mintToken({ audience: CLI_AUDIENCE })}` })) === 200, 'HAProxy serves through the verifiers', 15_000, 100);

  const statuses = new Map<number, number>();
  let done = false;
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      const deadline = Date.now() + 150_000;
      while (!done && Date.now() < deadline) {
        const status = await get(front, agent, { authorization: `Bearer ${await mintToken({ audience: CLI_AUDIENCE })}` });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  for (let index = 0; index < instances.length; index++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const cli = instances[index].cli!;
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    await startInstance(index).logLines('verifier proxy started');
    // Back in HAProxy's rotation (rise 2 checks 200 ms apart) before the next one goes.
    await eventually(async () => (await get(`http://127.0.0.1:${instances[index].healthPort}/readyz`)) === 200, 'the restarted instance is ready', 15_000, 100);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  done = true;
  await load;
  agent.destroy();
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(100);
  expect(Object.fromEntries(statuses)).toEqual({ 200: total });
});
