// Where a proxy's CPU goes under load: runs one scenario in a single process under
// `node --cpu-prof`, loads it with wrk (a warm-up, then the measured run), and prints the
// functions and files with the most self time during the measured run alone, in µs per request.
//   node dist/bench/profile.js floor|pass|access|unique [seconds]
// floor: the bare Node proxy (bareProxy.ts); pass: the pass-through on jwtproxy's forwarding code;
// access: the Cloudflare Access verifier sent one reused token, as (h); unique: the verifier with
// unique RS256 tokens and local nonces, as (c1). Everything in one process (workers: 1), so the
// profile holds all of the proxy's JavaScript. The .cpuprofile is kept (path printed) for DevTools.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { signToken } from '../src/jwt/token';
import { freePort } from './ports';

const [scenario = 'access', secondsArg = '10'] = process.argv.slice(2);
const ROOT = path.resolve(__dirname, '../..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-profile-'));
const TOKENS = 120_000;
const TOP = Number(process.env.PROFILE_TOP ?? 30);
const children: ChildProcess[] = [];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

async function waitForPort(port: number): Promise<void> {
  for (let tries = 0; tries < 150; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

async function startUpstream(): Promise<string> {
  const port = await freePort();
  const conf = path.join(work, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off; worker_processes 1; pid ${work}/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:${port}; location / { return 200 'ok'; } } }
`,
  );
  start('nginx', ['-c', conf, '-p', work]);
  await waitForPort(port);
  return `http://127.0.0.1:${port}/`;
}

/** CPU seconds of a process so far, all its threads. */
function cpuSeconds(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/** Monotonic µs, the clock of the profile's timestamps. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

function wrk(url: string, seconds: string, script: string, env: NodeJS.ProcessEnv, headers: string[]): number {
  const args = ['-t', '2', '-c', '64', '-d', seconds, '-s', script];
  for (const header of headers) args.push('-H', header);
  const output = execFileSync('wrk', [...args, url], { env: { ...process.env, THREADS: '2', ...env }, encoding: 'utf8' });
  const refused = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  if (refused) console.log(`  (${refused} refused answers)`);
  return Number(/(\d+) requests in /.exec(output)?.[1] ?? 0) - refused;
}

interface Target {
  url: string;
  child: ChildProcess;
  script: string;
  env: NodeJS.ProcessEnv;
  warmUpEnv: NodeJS.ProcessEnv;
  headers: string[];
}

async function startTarget(upstream: string, profileDir: string): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const node = (args: string[]) => start(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', profileDir, ...args]);
  const latencyOnly = path.join(ROOT, 'bench/latency.lua');
  const tokensLua = path.join(ROOT, 'bench/tokens.lua');
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const config = path.join(work, 'jwtproxy.yaml');
  // floor, pass and access get the same requests: one reused Access token.
  const certsPort = await freePort();
  const team = `http://127.0.0.1:${certsPort}`;
  const tag = crypto.randomBytes(32).toString('hex');
  const iat = Math.floor(Date.now() / 1000);
  const accessToken = await signToken('RS256', privateKey, 'bench', {
    aud: [tag],
    email: 'bench@example.com',
    exp: iat + 86_400,
    iat,
    nbf: iat,
    iss: team,
    type: 'app',
    sub: crypto.randomUUID(),
    country: 'CH',
    custom: { 'http://schemas/groups': ['staff'] },
  });
  const reused = [`Cf-Access-Jwt-Assertion: ${accessToken}`];
  if (scenario === 'floor' || scenario === 'pass') {
    const child = node([path.join(ROOT, 'dist/bench', scenario === 'floor' ? 'bareProxy.js' : 'passThrough.js'), String(port), upstream, '1']);
    await waitForPort(port);
    return { url, child, script: latencyOnly, env: {}, warmUpEnv: {}, headers: reused };
  }
  if (scenario === 'access') {
    const certs = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }], public_certs: [] });
    fs.writeFileSync(path.join(work, 'certs.json'), certs);
    start(process.execPath, [
      '-e',
      `const c=require('fs').readFileSync(${JSON.stringify(path.join(work, 'certs.json'))});require('http').createServer((q,s)=>s.writeHead(200,{'content-type':'application/json'}).end(c)).listen(${certsPort},'127.0.0.1')`,
    ]);
    await waitForPort(certsPort);
    fs.writeFileSync(
      config,
      `jwtproxy:\n  workers: 1\n  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - listen_addr: 127.0.0.1:${port}\n    verifier:\n      upstream: ${upstream}\n      provider:\n        type: cloudflare_access\n        options: {team_domain: "${team}", audience_tag: ${tag}, certs_url: "${team}/cdn-cgi/access/certs"}\n`,
    );
    const child = node([path.join(ROOT, 'dist/cmd/jwtproxy.js'), '-config', config, '-log-level', process.env.BENCH_LOG_LEVEL ?? 'info']);
    await waitForPort(port);
    return { url, child, script: latencyOnly, env: {}, warmUpEnv: {}, headers: reused };
  }
  if (scenario !== 'unique') throw new Error(`unknown scenario ${scenario}: floor, pass, access or unique`);
  const publicKeyFile = path.join(work, 'bench.pub');
  fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i += 256) {
    tokens.push(
      ...(await Promise.all(
        Array.from({ length: 256 }, () =>
          signToken('RS256', privateKey, 'bench', { aud: url.slice(0, -1), exp: now + 3600, iat: now, iss: 'bench', jti: crypto.randomBytes(24).toString('base64'), nbf: now - 60 }),
        ),
      )),
    );
  }
  const tokenFile = path.join(work, 'tokens.txt');
  fs.writeFileSync(tokenFile, `${tokens.join('\n')}\n`);
  fs.writeFileSync(
    config,
    `jwtproxy:\n  workers: 1\n  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - listen_addr: 127.0.0.1:${port}\n    verifier:\n      upstream: ${upstream}\n      audience: ${url}\n      max_ttl: 2h\n      key_server: {type: preshared, options: {issuer: bench, key_id: bench, public_key_path: ${publicKeyFile}}}\n      nonce_storage: {type: local}\n`,
  );
  const child = node([path.join(ROOT, 'dist/cmd/jwtproxy.js'), '-config', config, '-log-level', process.env.BENCH_LOG_LEVEL ?? 'info']);
  await waitForPort(port);
  return { url, child, script: tokensLua, env: { TOKENS: tokenFile }, warmUpEnv: { TOKENS: tokenFile, START: String(TOKENS - 30_000) }, headers: [] };
}

/** Self time per function and per file, over the samples taken between `fromUs` and `toUs`. */
function summarize(profile: CpuProfile, fromUs: number, toUs: number, requests: number): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (at < fromUs || at > toUs) continue;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + duration);
    windowUs += duration;
  }
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  /** Time with the function on the stack (callees included), for jwtproxy's own functions. */
  const totals = new Map<string, number>();
  const described = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(`file://${ROOT}/`, '').replace(/^.*node_modules\//, 'node_modules/');
    return { file, functionName, name: `${functionName || '(anonymous)'}  ${file ? `${file}:${lineNumber + 1}` : ''}` };
  };
  for (const [id, us] of selfUs) {
    const { file, functionName, name } = described(id);
    functions.set(name, (functions.get(name) ?? 0) + us);
    const group = file === '' ? functionName : file;
    files.set(group, (files.get(group) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = described(at);
      if (!frame.file.startsWith('dist/src/') || seen.has(frame.name)) continue;
      seen.add(frame.name);
      totals.set(frame.name, (totals.get(frame.name) ?? 0) + us);
    }
  }
  const busy = windowUs - (functions.get('(idle)  ') ?? 0);
  console.log(
    `${scenario}: ${requests} requests in the measured window; main thread sampled ${(windowUs / 1e6).toFixed(1)} s, busy ${((100 * busy) / windowUs).toFixed(0)} %, ${(busy / requests).toFixed(1)} µs of busy main thread per request`,
  );
  const print = (title: string, table: Map<string, number>) => {
    console.log(`\n${title} (µs per request, share of busy time):`);
    // (idle) is left out: the shares are of the busy time.
    for (const [name, us] of [...table]
      .filter(([name]) => !name.startsWith('(idle)'))
      .sort((x, y) => y[1] - x[1])
      .slice(0, TOP)) {
      console.log(`${(us / requests).toFixed(2).padStart(8)}  ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${name}`);
    }
  };
  print('Self time by function', functions);
  print('Self time by file', files);
  if (totals.size > 0) print("Total time (callees included) of jwtproxy's own functions", totals);
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const profileDir = path.join(os.tmpdir(), `jwtproxy-profile-${scenario}-${Date.now()}`);
  const target = await startTarget(upstream, profileDir);
  wrk(target.url, '3s', target.script, target.warmUpEnv, target.headers);
  const cpuBefore = cpuSeconds(target.child.pid!);
  const from = nowUs();
  const requests = wrk(target.url, `${secondsArg}s`, target.script, target.env, target.headers);
  const to = nowUs();
  const cpu = cpuSeconds(target.child.pid!);
  await new Promise<void>((resolve) => {
    target.child.once('exit', () => resolve());
    target.child.kill('SIGTERM');
  });
  const [file] = fs.readdirSync(profileDir).filter((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${profileDir}`);
  console.log(
    `load average ${os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(
        ' ',
      )}; the process's CPU during the measured run (all threads, from /proc): user ${((1e6 * cpu.user - 1e6 * cpuBefore.user) / requests).toFixed(1)} + system ${((1e6 * cpu.system - 1e6 * cpuBefore.system) / requests).toFixed(1)} µs per request`,
  );
  summarize(JSON.parse(fs.readFileSync(path.join(profileDir, file), 'utf8')) as CpuProfile, from, to, requests);
  console.log(`\nprofile: ${path.join(profileDir, file)}`);
}

main()
  .catch((error: Error) => {
    console.error(`profile failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    fs.rmSync(work, { recursive: true, force: true });
  });
