// npm run bench: requests/s, p99, p99.9 and CPU per request of every process on loopback, measured
// with wrk, beside two references measured in the same run: the floor, (n) the barest Node proxy
// (node:http + undici Pool.stream, no checks), and the C peer, (p) HAProxy 2.6 doing natively what
// the verifier does. Groups (BENCH_ONLY=unique,access,chain,warm,rate; all by default):
//   unique  (a) the upstream directly, (b) a pass-through proxy on jwtproxy's forwarding code,
//           (n) the floor, (c1) the verifier with unique RS256 tokens and local nonces in one process
//           (workers: 1), (c) the same with the default worker count, (p) HAProxy doing every check
//           of (c) with jti in a stick table, (d) (c) with Redis nonces;
//   access  (b2) the pass-through, (n2) the floor and (h) the verifier behind Cloudflare Access
//           (cloudflare_access preset, a local certs endpoint) sent one reused 24 h token, (p2)
//           HAProxy checking it natively and passing the email on; (i) the verifier with a fresh
//           token per request (when `unique` runs too); (j) and (k) a groups rule in CEL or Lua
//           and two identity headers;
//   chain   wrk → signer → verifier → upstream: (e) RS256 with workers: 1 on both, (e2) the same
//           with the default workers, (f) ES256, (g) RS256 at a little over 3 k requests/s offered;
//   warm    (w) the verifier, (w2) the Access verifier, (w3) the RS256 chain: the first 5 s after
//           /readyz turns 200 against the 10 s that follow;
//   rate    (r) the verifier and HAProxy at one fixed offered rate, 80 % of the verifier's
//           saturation (from `unique`/`access` when they ran), for (c) against (p) and (h) against (p2).
// CPU per request is µs of CPU over the requests answered with 2xx/3xx, for each process involved:
// the proxy (primary and workers), the upstream, and the load generator. HAProxy is skipped, and
// said so, when it is not installed. Compare ratios: absolute figures move between runs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCores } from '../src/cluster/availableCores';
import { signToken } from '../src/jwt/token';
import { accessConfig, uniqueTokenConfig } from './haproxy';
import { freePort } from './ports';

const DURATION = process.env.BENCH_DURATION ?? '10s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const THREADS = 2;
const GROUPS = new Set((process.env.BENCH_ONLY ?? 'unique,access,chain,warm,rate').split(','));
/** The verifiers' `workers`; unset: the default (one per core), as a Go config gets it. */
const WORKERS = process.env.BENCH_WORKERS === undefined ? undefined : Number(process.env.BENCH_WORKERS);
/** What the default means here, for the pass-through, the floor and HAProxy's nbthread. */
const DEFAULT_WORKERS = availableCores();
const PEER_WORKERS = WORKERS ?? DEFAULT_WORKERS;
// In the chain the signer's thread pool needs the cores: one process each measured best.
const SIGNER_WORKERS = Number(process.env.BENCH_SIGNER_WORKERS ?? 1);
const CHAIN_VERIFIER_WORKERS = Number(process.env.BENCH_CHAIN_VERIFIER_WORKERS ?? 1);
const CHAIN_MEAN_PAUSE_MS = Number(process.env.BENCH_CHAIN_MEAN_PAUSE_MS ?? 16);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 300_000);
/** Unique Access tokens for (i): more than the verified-token cache holds, so none is served from it. */
const ACCESS_TOKENS = Number(process.env.BENCH_ACCESS_TOKENS ?? 150_000);
/** The fixed-rate runs offer this share of the verifier's saturation rate. */
const RATE_SHARE = Number(process.env.BENCH_RATE_SHARE ?? 0.8);
/** Unmeasured load before each run (JIT, pools); the first seconds after ready are slow (the warm group). */
const WARM_UP = process.env.BENCH_WARM_UP ?? '2s';
/** jwtproxy's log level: info by default, as it runs, so each request writes its access log line; warn leaves it out. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/** Warm-ups of the token runs use the file's last tokens; measured runs start at its head. */
const WARM_UP_TOKENS = 60_000;
const MAX_TTL_SECONDS = 7200;
const ROOT = path.resolve(__dirname, '../..');
const LATENCY_LUA = path.join(ROOT, 'bench/latency.lua');
const TOKENS_LUA = path.join(ROOT, 'bench/tokens.lua');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-bench-'));
const children: ChildProcess[] = [];

/** A process whose CPU (with its children's: cluster workers, nginx's worker) is counted per request. */
interface Measured {
  label: string;
  pid: number;
}

interface Result {
  name: string;
  rps: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  /** Answers with a 2xx or 3xx status. */
  accepted: number;
  /** µs of CPU per accepted request, by process: the proxies, the upstream, the load generator. */
  cpuUs: Array<[string, number]>;
  note?: string;
}

/** The processes every run involves besides the proxies. */
let upstreamProcess: Measured | undefined;

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Resolves when every URL answers 200 (polled every 10 ms): the proxies' /readyz. */
async function waitForReady(urls: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  const status = (url: string) =>
    new Promise<number>((resolve) => {
      http
        .get(url, (res) => (res.resume(), resolve(res.statusCode ?? 0)))
        .on('error', () => resolve(0))
        .end();
    });
  for (;;) {
    if ((await Promise.all(urls.map(status))).every((code) => code === 200)) return;
    if (Date.now() > deadline) throw new Error(`not ready in 30 s: ${urls.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function startUpstream(): Promise<{ url: string; hostPort: string; kind: string }> {
  const port = await freePort();
  const hostPort = `127.0.0.1:${port}`;
  if (has('nginx')) {
    const conf = path.join(work, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off; worker_processes 1; pid ${work}/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen ${hostPort}; location / { return 200 'ok'; } } }
`,
    );
    const child = start('nginx', ['-c', conf, '-p', work]);
    upstreamProcess = { label: 'nginx', pid: child.pid! };
    await waitForPort(port);
    return { url: `http://${hostPort}/`, hostPort, kind: 'nginx, 1 worker' };
  }
  const child = start(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end('ok')).listen(${port},'127.0.0.1')`]);
  upstreamProcess = { label: 'upstream', pid: child.pid! };
  await waitForPort(port);
  return { url: `http://${hostPort}/`, hostPort, kind: 'node http, 1 process (install nginx for a lighter upstream)' };
}

/** Unique RS256 tokens for the verifier's audience, signed on the thread pool. */
async function writeTokens(file: string, audience: string, privateKey: crypto.KeyObject): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const lines: string[] = [];
  const batch = 256;
  for (let i = 0; i < TOKENS; i += batch) {
    const signed = await Promise.all(
      Array.from({ length: Math.min(batch, TOKENS - i) }, () =>
        signToken('RS256', privateKey, 'bench', { aud: audience, exp: now + 3600, iat: now, iss: 'bench', jti: crypto.randomBytes(24).toString('base64'), nbf: now - 60 }),
      ),
    );
    lines.push(...signed);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** Tokens in Cloudflare Access's shape: RS256, aud [AUD tag], 24 h, no jti; each unique (its identity_nonce). */
async function accessTokens(count: number, teamDomain: string, audienceTag: string, privateKey: crypto.KeyObject): Promise<string[]> {
  const iat = Math.floor(Date.now() / 1000);
  const claims = () => ({
    aud: [audienceTag],
    email: 'bench@example.com',
    exp: iat + 86_400,
    iat,
    nbf: iat,
    iss: teamDomain,
    type: 'app',
    identity_nonce: crypto.randomBytes(12).toString('base64url'),
    sub: crypto.randomUUID(),
    country: 'CH',
    custom: { 'http://schemas/groups': ['staff'] },
  });
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 256) {
    tokens.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, () => signToken('RS256', privateKey, 'bench', claims())))));
  }
  return tokens;
}

/** µs of one synchronous RS256 verification in this process, alone: what (c) − (b) is measured against. */
async function rs256VerifyUs(publicKey: crypto.KeyObject, privateKey: crypto.KeyObject): Promise<number> {
  const token = await signToken('RS256', privateKey, 'bench', { iss: 'bench', aud: 'x', exp: 1e10, iat: 0, nbf: 0, jti: 'x' });
  const dot = token.lastIndexOf('.');
  const data = Buffer.from(token.slice(0, dot));
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  for (let i = 0; i < 500; i++) crypto.verify('sha256', data, publicKey, signature);
  let count = 0;
  const started = process.hrtime.bigint();
  const until = started + 1_000_000_000n;
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 100; i++) crypto.verify('sha256', data, publicKey, signature);
    count += 100;
  }
  return Number(process.hrtime.bigint() - started) / 1000 / count;
}

/**
 * A local Cloudflare Access team: its certs document, in Cloudflare's shape, with the bench key.
 * In a process of its own: this one is blocked while wrk runs, and a verifier worker still
 * fetching its first key set would time out and answer 503 for the whole run.
 */
async function startAccessCerts(publicKey: crypto.KeyObject): Promise<string> {
  const port = await freePort();
  const certsFile = path.join(work, 'access-certs.json');
  fs.writeFileSync(certsFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }], public_certs: [] }));
  const server = `const certs = require('fs').readFileSync(${JSON.stringify(certsFile)});
require('http').createServer((q, s) => s.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(certs)).listen(${port}, '127.0.0.1');`;
  start(process.execPath, ['-e', server]);
  await waitForPort(port);
  return `http://127.0.0.1:${port}`;
}

interface Cli {
  url: string;
  child: ChildProcess;
  /** Its /readyz, when started with an observability listener. */
  readyUrl?: string;
}

/** `policy`: more of the verifier's YAML (claims verifiers, identity headers), 6 spaces in. */
function startAccessVerifier(port: number, upstream: string, teamDomain: string, audienceTag: string, policy = '', readiness = false): Promise<Cli> {
  return startCli(
    port,
    `jwtproxy:
${workersLine(WORKERS)}  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:${port}
    verifier:
      upstream: ${upstream}
      provider:
        type: cloudflare_access
        options: {team_domain: "${teamDomain}", audience_tag: ${audienceTag}, certs_url: "${teamDomain}/cdn-cgi/access/certs"}
${policy}`,
    readiness,
  );
}

const GROUPS_CLAIM = 'claims.custom["http://schemas/groups"]';
/** (j) and (k): two identity headers, and a groups rule in CEL or in Lua. */
const IDENTITY_HEADERS = `      claims_to_headers: {X-Auth-Email: claims.email, X-Auth-Groups: '${GROUPS_CLAIM}'}\n`;
const CEL_RULE = `      claims_verifiers: [{type: cel, options: {expression: '"staff" in ${GROUPS_CLAIM}'}}]\n`;
const LUA_RULE = `function verify(input)
  for _, group in ipairs(input.claims.custom["http://schemas/groups"] or {}) do
    if group == "staff" then return true end
  end
  return false, "staff only"
end
`;

/** CPU seconds this process's reaped children used: wrk, run synchronously, once it has exited. */
function reapedChildrenCpuSeconds(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  // fields[13] and [14] are cutime and cstime.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

interface WrkRun {
  rps: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  accepted: number;
  /** wrk's own CPU seconds. */
  clientCpu: number;
}

function wrk(url: string, script: string | undefined, env: NodeJS.ProcessEnv = {}, duration = DURATION, headers: string[] = []): WrkRun {
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', duration, '--latency', '-s', script ?? LATENCY_LUA];
  for (const header of headers) args.push('-H', header);
  const before = reapedChildrenCpuSeconds();
  const output = execFileSync('wrk', [...args, url], { env: { ...process.env, THREADS: String(THREADS), BENCH_LATENCY_LUA: LATENCY_LUA, ...env }, encoding: 'utf8' });
  const clientCpu = reapedChildrenCpuSeconds() - before;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const tail = /bench-latency p99 (\d+) p99\.9 (\d+)/.exec(output);
  const refused = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = refused + Number(/Socket errors:.*?timeout (\d+)/.exec(output)?.[1] ?? 0);
  const accepted = Number(/(\d+) requests in /.exec(output)?.[1] ?? 0) - refused;
  return { rps, p99Ms: tail ? Number(tail[1]) / 1000 : NaN, p999Ms: tail ? Number(tail[2]) / 1000 : NaN, errors, accepted, clientCpu };
}

/** CPU seconds used so far by a process and its children (cluster workers, nginx's worker); threads included. */
function cpuSeconds(pid: number): number {
  const ticksPerSecond = 100;
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[1] is the parent pid; [11] and [12] are user and system ticks.
    if (Number(entry) === pid || Number(fields[1]) === pid) total += (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  }
  return total;
}

/** Runs `load` while counting the CPU of `proxies` and the upstream; the load reports its own. */
function withCpu<T extends { accepted: number; clientCpu: number }>(proxies: Measured[], load: () => T): T & { cpuUs: Array<[string, number]> } {
  const counted = upstreamProcess ? [...proxies, upstreamProcess] : proxies;
  const before = counted.map((process) => cpuSeconds(process.pid));
  const run = load();
  const perRequest = (seconds: number) => (run.accepted > 0 ? (seconds * 1e6) / run.accepted : NaN);
  const cpuUs = counted.map((process, index): [string, number] => [process.label, perRequest(cpuSeconds(process.pid) - before[index])]);
  cpuUs.push(['load', perRequest(run.clientCpu)]);
  return { ...run, cpuUs };
}

/** A wrk run against proxies, with the CPU of every process involved per accepted request. */
function measured(name: string, proxies: Measured[], url: string, script?: string, env: NodeJS.ProcessEnv = {}, duration = DURATION, headers: string[] = []): Result {
  return { name, ...withCpu(proxies, () => wrk(url, script, env, duration, headers)) };
}

/** A short unmeasured run first (JIT, connection pools), on tokens the measured run will not reach. */
function warmUp(url: string, tokens: string, header?: string): void {
  wrk(url, TOKENS_LUA, { TOKENS: tokens, START: String(TOKENS - WARM_UP_TOKENS), ...(header ? { HEADER: header } : {}) }, WARM_UP);
}

async function startCli(port: number, yaml: string, readiness = false): Promise<Cli> {
  const config = path.join(work, `jwtproxy-${port}.yaml`);
  let readyUrl: string | undefined;
  if (readiness) {
    const observabilityPort = await freePort();
    yaml = yaml.replace('jwtproxy:\n', `jwtproxy:\n  observability: {listen_addr: 127.0.0.1:${observabilityPort}}\n`);
    readyUrl = `http://127.0.0.1:${observabilityPort}/readyz`;
  }
  fs.writeFileSync(config, yaml);
  const child = start(process.execPath, [path.join(ROOT, 'dist/cmd/jwtproxy.js'), '-config', config, '-log-level', LOG_LEVEL]);
  await waitForPort(port);
  return { url: `http://127.0.0.1:${port}/`, child, readyUrl };
}

/** The `workers:` line of a config; none for the default. */
function workersLine(workers: number | undefined): string {
  return workers === undefined ? '' : `  workers: ${workers}\n`;
}

async function startVerifier(port: number, upstream: string, publicKeyFile: string, nonceStorage: string, issuer = 'bench', workers = WORKERS, readiness = false): Promise<Cli> {
  return startCli(
    port,
    `jwtproxy:
${workersLine(workers)}  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:${port}
    verifier:
      upstream: ${upstream}
      audience: http://127.0.0.1:${port}/
      max_ttl: ${MAX_TTL_SECONDS}s
      key_server: {type: preshared, options: {issuer: ${issuer}, key_id: bench, public_key_path: ${publicKeyFile}}}
      nonce_storage: ${nonceStorage}
`,
    readiness,
  );
}

function startSigner(port: number, privateKeyFile: string, workers: number | undefined, readiness = false): Promise<Cli> {
  return startCli(
    port,
    `jwtproxy:
${workersLine(workers)}  signer_proxy:
    listen_addr: 127.0.0.1:${port}
    signer:
      issuer: chain
      private_key: {type: preshared, options: {key_id: bench, private_key_path: ${privateKeyFile}}}
`,
    readiness,
  );
}

/** A Node program of the bench (the pass-through, the floor) on `port`, in `workers` processes. */
async function startProgram(program: string, port: number, upstream: string, workers = PEER_WORKERS): Promise<ChildProcess> {
  const child = start(process.execPath, [path.join(ROOT, 'dist/bench', program), String(port), upstream, String(workers)]);
  await waitForPort(port);
  return child;
}

const HAPROXY = has('haproxy');

async function startHaproxy(port: number, config: string): Promise<ChildProcess> {
  const file = path.join(work, `haproxy-${port}.cfg`);
  fs.writeFileSync(file, config);
  const child = start('haproxy', ['-db', '-f', file]);
  await waitForPort(port);
  return child;
}

function skipped(name: string): void {
  console.log(`${name.padEnd(64)} skipped: haproxy is not installed (apt-get install haproxy)`);
}

function row(result: Result): string {
  const errors = result.errors ? `  (${result.errors} errors)` : '';
  const cpu = result.cpuUs.map(([label, us]) => `${label} ${us.toFixed(0)}`).join(', ');
  const note = result.note ? `  [${result.note}]` : '';
  return `${result.name.padEnd(64)} ${result.rps.toFixed(0).padStart(7)} req/s  p99 ${ms(result.p99Ms)}  p99.9 ${ms(result.p999Ms)}  CPU µs/req: ${cpu}${errors}${note}`;
}

function ms(value: number): string {
  return `${value.toFixed(value < 10 ? 2 : 1).padStart(6)} ms`;
}

/** "x/y = 0.83 (target ≥ 0.95)"; nothing when a side was skipped. */
function ratio(label: string, x: Result | undefined, y: Result | undefined, target?: number): string {
  if (!x || !y) return '';
  const value = x.rps / y.rps;
  return `${label} = ${value.toFixed(2)}${target === undefined ? '' : ` (target ≥ ${target})`}`;
}

function load(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

interface Keys {
  publicKey: crypto.KeyObject;
  privateKey: crypto.KeyObject;
  publicKeyFile: string;
}

/** What the groups share: the upstream, the key, the verifiers' port and the unique tokens for it. */
interface Bench {
  upstream: { url: string; hostPort: string };
  keys: Keys;
  /** The verifiers and their peers listen on one port in turn, so one set of tokens (one audience) serves them all. */
  port: number;
  tokens: string;
  /** Saturation runs, for the fixed-rate group. */
  c?: Result;
  h?: Result;
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is not installed: apt-get install wrk');
  const upstream = await startUpstream();
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyFile = path.join(work, 'bench.pub');
  fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  console.log(
    `jwtproxy bench: wrk ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION} per run; verifier ${WORKERS ?? `default (${DEFAULT_WORKERS})`} workers (${CHAIN_VERIFIER_WORKERS} in the chain), signer ${SIGNER_WORKERS}; floor and HAProxy ${PEER_WORKERS} workers/threads; upstream ${upstream.kind}; ${os.availableParallelism()} cores; load average ${load()}`,
  );
  if (!HAPROXY) console.log('  HAProxy runs are skipped: haproxy is not installed (apt-get install haproxy)');
  const bench: Bench = { upstream, keys: { publicKey, privateKey, publicKeyFile }, port: await freePort(), tokens: path.join(work, 'tokens.txt') };
  if (GROUPS.has('unique') || GROUPS.has('warm') || GROUPS.has('rate')) {
    const signStart = Date.now();
    await writeTokens(bench.tokens, `http://127.0.0.1:${bench.port}`, privateKey);
    console.log(`  (${TOKENS} RS256 tokens signed in ${((Date.now() - signStart) / 1000).toFixed(1)} s)`);
  }
  if (GROUPS.has('unique')) await runUnique(bench);
  if (GROUPS.has('access')) await runAccess(bench);
  if (GROUPS.has('chain')) await runChains(upstream.url);
  if (GROUPS.has('warm')) await runWarmStarts(bench);
  if (GROUPS.has('rate')) await runFixedRate(bench);
  console.log(`load average at the end: ${load()}`);
}

async function runUnique(bench: Bench): Promise<void> {
  const { upstream, port, tokens } = bench;
  const env = { TOKENS: tokens };
  wrk(upstream.url, undefined, {}, WARM_UP);
  console.log(row(measured('(a) upstream directly', [], upstream.url)));

  // The baselines get the very same requests, tokens included, so wrk's own work is equal.
  const pass = await startProgram('passThrough.js', port, upstream.url);
  warmUp(`http://127.0.0.1:${port}/`, tokens);
  const b = measured(`(b) pass-through proxy, no checks, ${PEER_WORKERS} workers`, [{ label: 'proxy', pid: pass.pid! }], `http://127.0.0.1:${port}/`, TOKENS_LUA, env);
  console.log(row(b));
  await stop(pass);

  const floor = await startProgram('bareProxy.js', port, upstream.url);
  warmUp(`http://127.0.0.1:${port}/`, tokens);
  const n = measured(`(n) floor: bare Node proxy, ${PEER_WORKERS} processes`, [{ label: 'proxy', pid: floor.pid! }], `http://127.0.0.1:${port}/`, TOKENS_LUA, env);
  console.log(row(n));
  await stop(floor);

  const single = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, '{type: local}', 'bench', 1);
  warmUp(single.url, tokens);
  const c1 = measured('(c1) verifier, RS256, local nonces, workers: 1', [{ label: 'proxy', pid: single.child.pid! }], single.url, TOKENS_LUA, env);
  console.log(row(c1));
  await stop(single.child);

  const local = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, '{type: local}');
  warmUp(local.url, tokens);
  const c = measured(`(c) verifier, RS256, local nonces, workers: ${WORKERS ?? 'default'}`, [{ label: 'proxy', pid: local.child.pid! }], local.url, TOKENS_LUA, env);
  console.log(row(c));
  bench.c = c;
  await stop(local.child);

  let p: Result | undefined;
  const pName = `(p) HAProxy, every check of (c) natively, nbthread ${PEER_WORKERS}`;
  if (HAPROXY) {
    const haproxy = await startHaproxy(port, uniqueHaproxy(bench));
    warmUp(`http://127.0.0.1:${port}/`, tokens);
    p = measured(pName, [{ label: 'haproxy', pid: haproxy.pid! }], `http://127.0.0.1:${port}/`, TOKENS_LUA, env);
    console.log(row(p));
    await stop(haproxy);
  } else skipped(pName);

  const redisPort = await freePort();
  const redisServer = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForPort(redisPort);
  const redis = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, `{type: redis, options: {url: "redis://127.0.0.1:${redisPort}"}}`);
  warmUp(redis.url, tokens);
  const d = measured(
    `(d) verifier, RS256, Redis nonces, workers: ${WORKERS ?? 'default'}`,
    [
      { label: 'proxy', pid: redis.child.pid! },
      { label: 'redis', pid: redisServer.pid! },
    ],
    redis.url,
    TOKENS_LUA,
    env,
  );
  console.log(row(d));
  await stop(redis.child);
  await stop(redisServer);

  // (d2): (d) with a replica acknowledging every claim (SET NX and WAIT 1 in one round trip), on a fresh
  // master so that the same tokens are new to it.
  const d2 = await runReplicated(port, upstream.url, bench.keys.publicKeyFile, tokens);
  console.log(row(d2));

  const verifyUs = await rs256VerifyUs(bench.keys.publicKey, bench.keys.privateKey);
  const proxyCpu = (result: Result) => result.cpuUs[0][1];
  const checksCpu = proxyCpu(c) - proxyCpu(b);
  console.log(
    [
      ratio('b/n', b, n, 0.95),
      ratio('c/n', c, n),
      ratio('c/p', c, p, 0.8),
      ratio('c/b', c, b),
      ratio('c/c1', c, c1),
      ratio('d/b', d, b),
      ratio('d2/d', d2, d),
      `(c)−(b) CPU ${checksCpu.toFixed(0)} µs/req = ${(checksCpu / verifyUs).toFixed(2)}× one RS256 verification (${verifyUs.toFixed(1)} µs alone; target ≤ 1.3)`,
    ]
      .filter(Boolean)
      .join('   '),
  );
}

function uniqueHaproxy(bench: Bench): string {
  return uniqueTokenConfig({
    listen: `127.0.0.1:${bench.port}`,
    upstream: bench.upstream.hostPort,
    threads: PEER_WORKERS,
    publicKeyFile: bench.keys.publicKeyFile,
    kid: 'bench',
    issuer: 'bench',
    audience: `http://127.0.0.1:${bench.port}`,
    maxTtlSeconds: MAX_TTL_SECONDS,
    maxSkewSeconds: 60,
  });
}

interface AccessTeam {
  teamDomain: string;
  audienceTag: string;
  reused: string[];
  haproxy: string;
}

async function accessTeam(bench: Bench): Promise<AccessTeam> {
  const teamDomain = await startAccessCerts(bench.keys.publicKey);
  const audienceTag = crypto.randomBytes(32).toString('hex');
  const [token] = await accessTokens(1, teamDomain, audienceTag, bench.keys.privateKey);
  const haproxy = accessConfig({
    listen: `127.0.0.1:${bench.port}`,
    upstream: bench.upstream.hostPort,
    threads: PEER_WORKERS,
    publicKeyFile: bench.keys.publicKeyFile,
    kid: 'bench',
    issuer: teamDomain,
    audienceTag,
  });
  return { teamDomain, audienceTag, reused: [`Cf-Access-Jwt-Assertion: ${token}`], haproxy };
}

/** (d2): a Redis master with one replica, and the verifier with `wait_replicas: 1`. */
async function runReplicated(verifierPort: number, upstream: string, publicKeyFile: string, tokens: string): Promise<Result> {
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  const replicaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-replica-'));
  const master = start('redis-server', ['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0']);
  await waitForPort(masterPort);
  const replica = start('redis-server', [
    '--port',
    String(replicaPort),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    replicaDir,
    '--replicaof',
    '127.0.0.1',
    String(masterPort),
  ]);
  await waitForPort(replicaPort);
  for (let attempt = 0; !/slave0:.*state=online/.test(execFileSync('redis-cli', ['-p', String(masterPort), 'info', 'replication']).toString()); attempt++) {
    if (attempt > 100) throw new Error('the bench replica did not come online');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const nonceStorage = `{type: redis, options: {url: "redis://127.0.0.1:${masterPort}", wait_replicas: 1, wait_timeout: 100ms}}`;
  const verifier = await startVerifier(verifierPort, upstream, publicKeyFile, nonceStorage);
  warmUp(verifier.url, tokens);
  const d2 = measured(
    `(d2) verifier, RS256, Redis nonces acknowledged by 1 replica, workers: ${WORKERS ?? 'default'}`,
    [
      { label: 'proxy', pid: verifier.child.pid! },
      { label: 'redis', pid: master.pid! },
      { label: 'replica', pid: replica.pid! },
    ],
    verifier.url,
    TOKENS_LUA,
    { TOKENS: tokens },
  );
  await stop(verifier.child);
  await stop(master);
  await stop(replica);
  fs.rmSync(replicaDir, { recursive: true, force: true });
  return d2;
}

/**
 * Behind Cloudflare Access: (b2) the pass-through and (n2) the floor sent one reused Access
 * token, the baselines of (h) which gets the very same requests (wrk without a token script:
 * its own cost is lower than with the token files, so (b) is no baseline for these); (p2)
 * HAProxy; (i) unique tokens, when (c) ran; (j) and (k) a policy.
 */
async function runAccess(bench: Bench): Promise<void> {
  const { upstream, port } = bench;
  const team = await accessTeam(bench);
  const { reused } = team;
  const url = `http://127.0.0.1:${port}/`;

  const pass = await startProgram('passThrough.js', port, upstream.url);
  wrk(url, undefined, {}, WARM_UP, reused);
  const b2 = measured(`(b2) pass-through, one reused Access token, ${PEER_WORKERS} workers`, [{ label: 'proxy', pid: pass.pid! }], url, undefined, {}, DURATION, reused);
  console.log(row(b2));
  await stop(pass);

  const floor = await startProgram('bareProxy.js', port, upstream.url);
  wrk(url, undefined, {}, WARM_UP, reused);
  const n2 = measured(`(n2) floor: bare Node proxy, the same token`, [{ label: 'proxy', pid: floor.pid! }], url, undefined, {}, DURATION, reused);
  console.log(row(n2));
  await stop(floor);

  const access = await startAccessVerifier(port, upstream.url, team.teamDomain, team.audienceTag);
  wrk(access.url, undefined, {}, WARM_UP, reused);
  const h = measured('(h) Access verifier, one reused 24 h token', [{ label: 'proxy', pid: access.child.pid! }], access.url, undefined, {}, DURATION, reused);
  console.log(row(h));
  bench.h = h;
  let i: Result | undefined;
  if (bench.c) {
    const unique = await accessTokens(ACCESS_TOKENS, team.teamDomain, team.audienceTag, bench.keys.privateKey);
    const accessFile = path.join(work, 'access-tokens.txt');
    fs.writeFileSync(accessFile, `${unique.join('\n')}\n`);
    const env = { TOKENS: accessFile, HEADER: 'Cf-Access-Jwt-Assertion' };
    wrk(access.url, TOKENS_LUA, { ...env, START: String(ACCESS_TOKENS - WARM_UP_TOKENS) }, WARM_UP);
    i = measured('(i) Access verifier, a fresh token per request', [{ label: 'proxy', pid: access.child.pid! }], access.url, TOKENS_LUA, env);
    console.log(row(i));
  }
  await stop(access.child);

  let p2: Result | undefined;
  const p2Name = `(p2) HAProxy, the Access checks natively, nbthread ${PEER_WORKERS}`;
  if (HAPROXY) {
    const haproxy = await startHaproxy(port, team.haproxy);
    wrk(url, undefined, {}, WARM_UP, reused);
    p2 = measured(p2Name, [{ label: 'haproxy', pid: haproxy.pid! }], url, undefined, {}, DURATION, reused);
    console.log(row(p2));
    await stop(haproxy);
  } else skipped(p2Name);

  // The same reused token through a policy: one CEL rule and two identity headers, then the rule in Lua.
  const luaScript = path.join(work, 'policy.lua');
  fs.writeFileSync(luaScript, LUA_RULE);
  const policies = [
    ['(j) Access verifier + CEL rule + 2 identity headers', CEL_RULE + IDENTITY_HEADERS],
    ['(k) Access verifier + Lua rule + 2 identity headers', `      claims_verifiers: [{type: lua, options: {script: "${luaScript}"}}]\n${IDENTITY_HEADERS}`],
  ] as const;
  const withPolicy: Result[] = [];
  for (const [name, policy] of policies) {
    const verifier = await startAccessVerifier(port, upstream.url, team.teamDomain, team.audienceTag, policy);
    wrk(verifier.url, undefined, {}, WARM_UP, reused);
    const result = measured(name, [{ label: 'proxy', pid: verifier.child.pid! }], verifier.url, undefined, {}, DURATION, reused);
    console.log(row(result));
    withPolicy.push(result);
    await stop(verifier.child);
  }
  const [j, k] = withPolicy;
  console.log(
    [ratio('b2/n2', b2, n2, 0.95), ratio('h/n2', h, n2, 0.95), ratio('h/p2', h, p2, 1.0), ratio('h/b2', h, b2), ratio('i/c', i, bench.c), ratio('j/h', j, h), ratio('k/h', k, h)]
      .filter(Boolean)
      .join('   '),
  );
}

interface Chain {
  signer: Cli;
  verifier: Cli;
  proxies: Measured[];
  env: NodeJS.ProcessEnv;
}

async function startChain(algorithm: 'rsa' | 'ec', upstream: string, workers: { signer?: number; verifier?: number }, meanPauseMs = 0, readiness = false): Promise<Chain> {
  const pair = algorithm === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateKeyFile = path.join(work, `chain-${algorithm}.key`);
  const publicKeyFile = path.join(work, `chain-${algorithm}.pub`);
  fs.writeFileSync(privateKeyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const verifier = await startVerifier(await freePort(), upstream, publicKeyFile, '{type: local}', 'chain', workers.verifier, readiness);
  const signer = await startSigner(await freePort(), privateKeyFile, workers.signer, readiness);
  const proxies = [
    { label: 'signer', pid: signer.child.pid! },
    { label: 'verifier', pid: verifier.child.pid! },
  ];
  return { signer, verifier, proxies, env: { TARGET: verifier.url, MEAN_PAUSE_MS: String(meanPauseMs) } };
}

async function runChains(upstream: string): Promise<void> {
  // (e), (e2) and (f) saturate: every connection sends again at once, so p99 is mostly queueing.
  // (g) offers a little over 3 k/s (64 connections, random pauses of 16 ms on average) and
  // shows the latency at that load.
  const fixed = { signer: SIGNER_WORKERS, verifier: CHAIN_VERIFIER_WORKERS };
  const runs = [
    [`(e) chain wrk → signer → verifier, RS256, workers ${SIGNER_WORKERS}+${CHAIN_VERIFIER_WORKERS}`, 'rsa', 0, fixed],
    [`(e2) chain, RS256, default workers (${DEFAULT_WORKERS}+${DEFAULT_WORKERS})`, 'rsa', 0, {}],
    ['(f) chain wrk → signer → verifier, ES256', 'ec', 0, fixed],
    ['(g) chain RS256 at ~3.3 k/s offered', 'rsa', CHAIN_MEAN_PAUSE_MS, fixed],
  ] as const;
  const results: Result[] = [];
  for (const [name, algorithm, meanPauseMs, workers] of runs) {
    const chain = await startChain(algorithm, upstream, workers, meanPauseMs);
    const script = path.join(ROOT, 'bench/chain.lua');
    // Warm up (JIT, connection pools) before measuring; the chain has no tokens to spend.
    wrk(chain.signer.url, script, chain.env, WARM_UP);
    const result = measured(name, chain.proxies, chain.signer.url, script, chain.env);
    console.log(row(result));
    results.push(result);
    await stop(chain.signer.child);
    await stop(chain.verifier.child);
  }
  console.log(ratio('e2/e (default workers against 1+1)', results[1], results[0]));
}

interface Launched {
  readyUrls: string[];
  proxies: Measured[];
  children: ChildProcess[];
  /** Where the load goes, and what its script needs besides `first`/`steady`. */
  url: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The first 5 s after every /readyz answers 200 (no warm-up run), against the 10 s right after.
 * `launch` starts the proxies with an observability listener.
 */
async function warmStart(name: string, launch: () => Promise<Launched>, script: string | undefined, first: NodeJS.ProcessEnv, steady: NodeJS.ProcessEnv, headers: string[] = []): Promise<void> {
  const started = await launch();
  await waitForReady(started.readyUrls);
  const cold = measured(`${name}: first 5 s after ready`, started.proxies, started.url, script, { ...started.env, ...first }, '5s', headers);
  const warm = measured(`${name}: the next ${DURATION}`, started.proxies, started.url, script, { ...started.env, ...steady }, DURATION, headers);
  console.log(row(cold));
  console.log(row(warm));
  console.log(`  first 5 s / steady: rate ${(cold.rps / warm.rps).toFixed(2)} (target ≥ 0.9), p99 ${(cold.p99Ms / warm.p99Ms).toFixed(2)}× (target ≤ 2)`);
  for (const child of started.children) await stop(child);
}

async function runWarmStarts(bench: Bench): Promise<void> {
  const { upstream, port, tokens } = bench;
  await warmStart(
    `(w) verifier, RS256, workers: ${WORKERS ?? 'default'}`,
    async () => {
      const verifier = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, '{type: local}', 'bench', WORKERS, true);
      return { readyUrls: [verifier.readyUrl!], proxies: [{ label: 'proxy', pid: verifier.child.pid! }], children: [verifier.child], url: verifier.url };
    },
    TOKENS_LUA,
    { TOKENS: tokens },
    { TOKENS: tokens, START: String(Math.floor(TOKENS / 3)) },
  );
  const team = await accessTeam(bench);
  await warmStart(
    '(w2) Access verifier, one reused token',
    async () => {
      const verifier = await startAccessVerifier(port, upstream.url, team.teamDomain, team.audienceTag, '', true);
      return { readyUrls: [verifier.readyUrl!], proxies: [{ label: 'proxy', pid: verifier.child.pid! }], children: [verifier.child], url: verifier.url };
    },
    undefined,
    {},
    {},
    team.reused,
  );
  await warmStart(
    `(w3) chain, RS256, workers ${SIGNER_WORKERS}+${CHAIN_VERIFIER_WORKERS}`,
    async () => {
      const chain = await startChain('rsa', upstream.url, { signer: SIGNER_WORKERS, verifier: CHAIN_VERIFIER_WORKERS }, 0, true);
      return {
        readyUrls: [chain.signer.readyUrl!, chain.verifier.readyUrl!],
        proxies: chain.proxies,
        children: [chain.signer.child, chain.verifier.child],
        url: chain.signer.url,
        env: chain.env,
      };
    },
    path.join(ROOT, 'bench/chain.lua'),
    {},
    {},
  );
}

interface FixedRateRun {
  offered: number;
  achieved: number;
  answered: number;
  lost: number;
  errors: number;
  non2xx: number;
  loopDelayP99Ms: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  loaderCpuUsPerRequest: number;
}

/** bench/fixedRate.js against `url` at `rate` requests/s: latency counted from when each request was due. */
function fixedRate(name: string, proxies: Measured[], url: string, rate: number, env: NodeJS.ProcessEnv): Result {
  const seconds = Number.parseInt(DURATION, 10);
  const run = withCpu(proxies, () => {
    const output = execFileSync(process.execPath, [path.join(ROOT, 'dist/bench/fixedRate.js'), url, String(Math.round(rate)), String(seconds), String(CONNECTIONS), '2'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as FixedRateRun;
    const accepted = result.answered - result.non2xx;
    return { ...result, accepted, clientCpu: (result.loaderCpuUsPerRequest * result.answered) / 1e6 };
  });
  return {
    name,
    rps: run.achieved,
    p99Ms: run.p99Ms,
    p999Ms: run.p999Ms,
    errors: run.lost + run.errors + run.non2xx,
    accepted: run.accepted,
    cpuUs: run.cpuUs,
    note: `p50 ${run.p50Ms.toFixed(2)} ms, p90 ${run.p90Ms.toFixed(2)} ms; the loader's own event-loop lag p99 ${run.loopDelayP99Ms.toFixed(1)} ms`,
  };
}

/**
 * (r) The verifier and HAProxy at one offered rate, RATE_SHARE of the verifier's saturation rate
 * (measured now when `unique`/`access` did not run): the tail when neither is saturated.
 */
async function runFixedRate(bench: Bench): Promise<void> {
  const { upstream, port, tokens } = bench;
  const url = `http://127.0.0.1:${port}/`;
  // Each run is a fresh process with its own replay view: all start at the tokens' head, away
  // from the tail the warm-ups spend.
  const env = { TOKENS: tokens };

  const verifier = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, '{type: local}');
  warmUp(verifier.url, tokens);
  const saturation = bench.c ?? measured('(c) verifier, saturation', [{ label: 'proxy', pid: verifier.child.pid! }], url, TOKENS_LUA, env);
  if (!bench.c) console.log(row(saturation));
  const rate = saturation.rps * RATE_SHARE;
  await stop(verifier.child);
  // The loader's and the box's own latency at that rate, with no proxy in the way.
  console.log(row(fixedRate(`(ra) upstream directly at ${rate.toFixed(0)}/s offered`, [], upstream.url, rate, {})));
  const rested = await startVerifier(port, upstream.url, bench.keys.publicKeyFile, '{type: local}');
  warmUp(rested.url, tokens);
  const r = fixedRate(`(r) verifier at ${rate.toFixed(0)}/s offered (${RATE_SHARE} × (c))`, [{ label: 'proxy', pid: rested.child.pid! }], url, rate, env);
  console.log(row(r));
  await stop(rested.child);
  let rp: Result | undefined;
  const rpName = `(rp) HAProxy at the same offered rate`;
  if (HAPROXY) {
    const haproxy = await startHaproxy(port, uniqueHaproxy(bench));
    rp = fixedRate(rpName, [{ label: 'haproxy', pid: haproxy.pid! }], url, rate, env);
    console.log(row(rp));
    await stop(haproxy);
  } else skipped(rpName);

  const team = await accessTeam(bench);
  const access = await startAccessVerifier(port, upstream.url, team.teamDomain, team.audienceTag);
  wrk(url, undefined, {}, WARM_UP, team.reused);
  const accessSaturation = bench.h ?? measured('(h) Access verifier, saturation', [{ label: 'proxy', pid: access.child.pid! }], url, undefined, {}, DURATION, team.reused);
  if (!bench.h) console.log(row(accessSaturation));
  const accessRate = accessSaturation.rps * RATE_SHARE;
  const fixedHeader = { FIXED_HEADER: team.reused[0] };
  const r2 = fixedRate(`(r2) Access verifier at ${accessRate.toFixed(0)}/s offered (${RATE_SHARE} × (h))`, [{ label: 'proxy', pid: access.child.pid! }], url, accessRate, fixedHeader);
  console.log(row(r2));
  await stop(access.child);
  let rp2: Result | undefined;
  const rp2Name = `(rp2) HAProxy, Access checks, at the same offered rate`;
  if (HAPROXY) {
    const haproxy = await startHaproxy(port, team.haproxy);
    rp2 = fixedRate(rp2Name, [{ label: 'haproxy', pid: haproxy.pid! }], url, accessRate, fixedHeader);
    console.log(row(rp2));
    await stop(haproxy);
  } else skipped(rp2Name);
  const tail = (x: Result, y: Result | undefined, label: string) => (y ? `${label} p99 ${(x.p99Ms / y.p99Ms).toFixed(2)}× (target ≤ 1.5), p99.9 ${(x.p999Ms / y.p999Ms).toFixed(2)}×` : '');
  console.log([tail(r, rp, 'r/rp'), tail(r2, rp2, 'r2/rp2')].filter(Boolean).join('   '));
}

main()
  .catch((error: Error) => {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all(children.map(stop));
    fs.rmSync(work, { recursive: true, force: true });
  });
