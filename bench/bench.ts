// npm run bench: requests/s, p99 and CPU per accepted request on loopback, measured with wrk, for
//   (a) the upstream directly, (b) a pass-through proxy with no checks,
//   (c1) the verifier with unique RS256 tokens and local nonces in one process (workers: 1),
//   (c) the same with the default worker count (one per core), (d) the same with Redis;
//   (d2) (d) with each claim acknowledged by one replica (wait_replicas: 1);
//   (h) the verifier behind Cloudflare Access (cloudflare_access preset, a local certs
//   endpoint) with one reused 24 h token, (i) the same with a fresh token per request;
//   (j) and (k) the same with a groups rule in CEL or Lua and two identity headers;
//   (b2) the pass-through sent the reused token, their baseline;
// then the ratios c/b, c/c1, d/b, h/b2, i/c, j/h and k/h; then the signer chains (e), (f), (g).
// BENCH_ONLY=access runs (b2), (h), (j), (k) only; BENCH_ONLY=chain the chains only.
// CPU per request is µs of CPU of every process of the proxy (primary and workers) during the
// run over the requests it accepted (2xx/3xx). Compare ratios: absolute figures move between runs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCores } from '../src/cluster/availableCores';
import { signToken } from '../src/jwt/token';

const DURATION = process.env.BENCH_DURATION ?? '10s';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const THREADS = 2;
/** The verifiers' `workers`; unset: the default (one per core), as a Go config gets it. */
const WORKERS = process.env.BENCH_WORKERS === undefined ? undefined : Number(process.env.BENCH_WORKERS);
/** What the default means here, for the pass-through baseline. */
const DEFAULT_WORKERS = availableCores();
// In the chain the signer's thread pool needs the cores: one process each measured best.
const SIGNER_WORKERS = Number(process.env.BENCH_SIGNER_WORKERS ?? 1);
const CHAIN_VERIFIER_WORKERS = Number(process.env.BENCH_CHAIN_VERIFIER_WORKERS ?? 1);
const CHAIN_MEAN_PAUSE_MS = Number(process.env.BENCH_CHAIN_MEAN_PAUSE_MS ?? 16);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 300_000);
/** Unique Access tokens for (i): more than the verified-token cache holds, so none is served from it. */
const ACCESS_TOKENS = Number(process.env.BENCH_ACCESS_TOKENS ?? 150_000);
const WARM_UP = '2s';
/** Warm-ups of the token runs use the file's last tokens; measured runs start at its head. */
const WARM_UP_TOKENS = 60_000;
const ROOT = path.resolve(__dirname, '../..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-bench-'));
const children: ChildProcess[] = [];

interface Result {
  name: string;
  rps: number;
  p99Ms: number;
  errors: number;
  /** Answers with a 2xx or 3xx status. */
  accepted: number;
  /** µs of CPU of the proxy's processes per accepted request, when measured. */
  cpuUsPerRequest?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

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

function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
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

async function startUpstream(): Promise<{ url: string; kind: string }> {
  const port = await freePort();
  if (has('nginx')) {
    const conf = path.join(work, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off; worker_processes 1; pid ${work}/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:${port}; location / { return 200 'ok'; } } }
`,
    );
    start('nginx', ['-c', conf, '-p', work]);
    await waitForPort(port);
    return { url: `http://127.0.0.1:${port}/`, kind: 'nginx, 1 worker' };
  }
  start(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end('ok')).listen(${port},'127.0.0.1')`]);
  await waitForPort(port);
  return { url: `http://127.0.0.1:${port}/`, kind: 'node http, 1 process (install nginx for a lighter upstream)' };
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
    aud: [audienceTag], email: 'bench@example.com', exp: iat + 86_400, iat, nbf: iat, iss: teamDomain, type: 'app',
    identity_nonce: crypto.randomBytes(12).toString('base64url'), sub: crypto.randomUUID(), country: 'CH', custom: { 'http://schemas/groups': ['staff'] },
  });
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 256) {
    tokens.push(...(await Promise.all(Array.from({ length: Math.min(256, count - i) }, () => signToken('RS256', privateKey, 'bench', claims())))));
  }
  return tokens;
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

/** `policy`: more of the verifier's YAML (claims verifiers, identity headers), 6 spaces in. */
function startAccessVerifier(port: number, upstream: string, teamDomain: string, audienceTag: string, policy = ''): Promise<{ url: string; child: ChildProcess }> {
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
  );
}

const GROUPS = 'claims.custom["http://schemas/groups"]';
/** (j) and (k): two identity headers, and a groups rule in CEL or in Lua. */
const IDENTITY_HEADERS = `      claims_to_headers: {X-Auth-Email: claims.email, X-Auth-Groups: '${GROUPS}'}\n`;
const CEL_RULE = `      claims_verifiers: [{type: cel, options: {expression: '"staff" in ${GROUPS}'}}]\n`;
const LUA_RULE = `function verify(input)
  for _, group in ipairs(input.claims.custom["http://schemas/groups"] or {}) do
    if group == "staff" then return true end
  end
  return false, "staff only"
end
`;

function wrk(name: string, url: string, script?: string, env: NodeJS.ProcessEnv = {}, duration = DURATION, headers: string[] = []): Result {
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', duration, '--latency'];
  if (script) args.push('-s', script);
  for (const header of headers) args.push('-H', header);
  const output = execFileSync('wrk', [...args, url], { env: { ...process.env, THREADS: String(THREADS), ...env }, encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(output);
  const p99Ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2] as 'us' | 'ms' | 's'] : NaN;
  const refused = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const errors = refused + Number(/Socket errors:.*?timeout (\d+)/.exec(output)?.[1] ?? 0);
  const accepted = Number(/(\d+) requests in /.exec(output)?.[1] ?? 0) - refused;
  return { name, rps, p99Ms, errors, accepted };
}

/** A wrk run against a proxy, with the CPU its processes (`pids` and their children) spent per accepted request. */
function measured(pids: number[], ...run: Parameters<typeof wrk>): Result {
  const before = pids.map(cpuSeconds);
  const result = wrk(...run);
  const cpu = pids.map((pid, index) => cpuSeconds(pid) - before[index]).reduce((sum, seconds) => sum + seconds, 0);
  return { ...result, cpuUsPerRequest: result.accepted > 0 ? (cpu * 1e6) / result.accepted : NaN };
}

/** A short unmeasured run first (JIT, connection pools), on tokens the measured run will not reach. */
function warmUp(url: string, script: string, tokens: string): void {
  wrk('warm-up', url, script, { TOKENS: tokens, START: String(TOKENS - WARM_UP_TOKENS) }, WARM_UP);
}

/** CPU seconds used so far by a process and its children (the cluster workers). */
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

async function startCli(port: number, yaml: string): Promise<{ url: string; child: ChildProcess }> {
  const config = path.join(work, `jwtproxy-${port}.yaml`);
  fs.writeFileSync(config, yaml);
  const child = start(process.execPath, [path.join(ROOT, 'dist/cmd/jwtproxy.js'), '-config', config, '-log-level', 'warn']);
  await waitForPort(port);
  return { url: `http://127.0.0.1:${port}/`, child };
}

/** The `workers:` line of a config; none for the default. */
function workersLine(workers: number | undefined): string {
  return workers === undefined ? '' : `  workers: ${workers}\n`;
}

async function startVerifier(port: number, upstream: string, publicKeyFile: string, nonceStorage: string, issuer = 'bench', workers = WORKERS): Promise<{ url: string; child: ChildProcess }> {
  return startCli(
    port,
    `jwtproxy:
${workersLine(workers)}  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: 127.0.0.1:${port}
    verifier:
      upstream: ${upstream}
      audience: http://127.0.0.1:${port}/
      max_ttl: 2h
      key_server: {type: preshared, options: {issuer: ${issuer}, key_id: bench, public_key_path: ${publicKeyFile}}}
      nonce_storage: ${nonceStorage}
`,
  );
}

function startSigner(port: number, privateKeyFile: string): Promise<{ url: string; child: ChildProcess }> {
  return startCli(
    port,
    `jwtproxy:
  workers: ${SIGNER_WORKERS}
  signer_proxy:
    listen_addr: 127.0.0.1:${port}
    signer:
      issuer: chain
      private_key: {type: preshared, options: {key_id: bench, private_key_path: ${privateKeyFile}}}
`,
  );
}

/** wrk → signer → verifier → upstream, with the CPU each proxy used during the run: cores, and µs per accepted request. */
async function chain(
  name: string,
  algorithm: 'rsa' | 'ec',
  upstream: string,
  meanPauseMs = 0,
): Promise<Result & { signerCpu: number; verifierCpu: number; signerUs: number; verifierUs: number }> {
  const pair = algorithm === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateKeyFile = path.join(work, `chain-${algorithm}.key`);
  const publicKeyFile = path.join(work, `chain-${algorithm}.pub`);
  fs.writeFileSync(privateKeyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  fs.writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const verifier = await startVerifier(await freePort(), upstream, publicKeyFile, '{type: local}', 'chain', CHAIN_VERIFIER_WORKERS);
  const signer = await startSigner(await freePort(), privateKeyFile);
  const script = path.join(ROOT, 'bench/chain.lua');
  const env = { TARGET: verifier.url, MEAN_PAUSE_MS: String(meanPauseMs) };
  // Warm up (JIT, connection pools) before measuring; the chain has no tokens to spend.
  wrk('warm-up', signer.url, script, env, WARM_UP);
  const before = [cpuSeconds(signer.child.pid!), cpuSeconds(verifier.child.pid!)];
  const started = Date.now();
  const result = wrk(name, signer.url, script, env);
  const seconds = (Date.now() - started) / 1000;
  const signerSeconds = cpuSeconds(signer.child.pid!) - before[0];
  const verifierSeconds = cpuSeconds(verifier.child.pid!) - before[1];
  await stop(signer.child);
  await stop(verifier.child);
  const perRequest = (cpu: number) => (result.accepted > 0 ? (cpu * 1e6) / result.accepted : NaN);
  return {
    ...result,
    signerCpu: signerSeconds / seconds,
    verifierCpu: verifierSeconds / seconds,
    signerUs: perRequest(signerSeconds),
    verifierUs: perRequest(verifierSeconds),
  };
}

function row(result: Result): string {
  const errors = result.errors ? `  (${result.errors} errors)` : '';
  const cpu = result.cpuUsPerRequest === undefined ? '' : `   CPU ${result.cpuUsPerRequest.toFixed(0).padStart(4)} µs/req`;
  return `${result.name.padEnd(52)} ${result.rps.toFixed(0).padStart(8)} req/s   p99 ${result.p99Ms.toFixed(2).padStart(7)} ms${cpu}${errors}`;
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is not installed: apt-get install wrk');
  const upstream = await startUpstream();
  if (process.env.BENCH_ONLY === 'chain') return runChains(upstream.url);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (process.env.BENCH_ONLY === 'access') {
    console.log(await runAccess(upstream.url, await freePort(), publicKey, privateKey, path.join(ROOT, 'bench/tokens.lua')));
    return;
  }
  const publicKeyFile = path.join(work, 'bench.pub');
  fs.writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const script = path.join(ROOT, 'bench/tokens.lua');
  console.log(
    `jwtproxy bench: wrk ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION} per run; verifier ${WORKERS ?? `default (${DEFAULT_WORKERS})`} workers (${CHAIN_VERIFIER_WORKERS} in the chain), signer ${SIGNER_WORKERS}; upstream ${upstream.kind}; ${os.availableParallelism()} cores`,
  );

  wrk('warm-up', upstream.url, undefined, {}, WARM_UP);
  console.log(row(wrk('(a) upstream directly', upstream.url)));

  // The verifiers listen on one port in turn, so one set of tokens (one audience) serves them
  // all: each verifier has its own replay view.
  const verifierPort = await freePort();
  const tokens = path.join(work, 'tokens.txt');
  const signStart = Date.now();
  await writeTokens(tokens, `http://127.0.0.1:${verifierPort}`, privateKey);
  console.log(`  (${TOKENS} RS256 tokens signed in ${((Date.now() - signStart) / 1000).toFixed(1)} s)`);

  // The baseline gets the very same requests, tokens included, so wrk's own work is equal.
  const passPort = await freePort();
  const passWorkers = WORKERS ?? DEFAULT_WORKERS;
  const pass = start(process.execPath, [path.join(ROOT, 'dist/bench/passThrough.js'), String(passPort), upstream.url, String(passWorkers)]);
  await waitForPort(passPort);
  warmUp(`http://127.0.0.1:${passPort}/`, script, tokens);
  const b = measured([pass.pid!], `(b) pass-through proxy, no checks, ${passWorkers} workers`, `http://127.0.0.1:${passPort}/`, script, { TOKENS: tokens });
  console.log(row(b));
  await stop(pass);

  const single = await startVerifier(verifierPort, upstream.url, publicKeyFile, '{type: local}', 'bench', 1);
  warmUp(single.url, script, tokens);
  const c1 = measured([single.child.pid!], '(c1) verifier, RS256, local nonces, workers: 1', single.url, script, { TOKENS: tokens });
  console.log(row(c1));
  await stop(single.child);

  const local = await startVerifier(verifierPort, upstream.url, publicKeyFile, '{type: local}');
  warmUp(local.url, script, tokens);
  const c = measured([local.child.pid!], `(c) verifier, RS256, local nonces, workers: ${WORKERS ?? 'default'}`, local.url, script, { TOKENS: tokens });
  console.log(row(c));
  await stop(local.child);

  const redisPort = await freePort();
  start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForPort(redisPort);
  const redis = await startVerifier(verifierPort, upstream.url, publicKeyFile, `{type: redis, options: {url: "redis://127.0.0.1:${redisPort}"}}`);
  warmUp(redis.url, script, tokens);
  const d = measured([redis.child.pid!], `(d) verifier, RS256, Redis nonces, workers: ${WORKERS ?? 'default'}`, redis.url, script, { TOKENS: tokens });
  console.log(row(d));
  await stop(redis.child);

  // (d2): (d) with a replica acknowledging every claim (SET NX and WAIT 1 in one round trip), on a fresh
  // master so that the same tokens are new to it.
  const d2 = await runReplicated(verifierPort, upstream.url, publicKeyFile, script, tokens);
  console.log(row(d2));

  const access = await runAccess(upstream.url, verifierPort, publicKey, privateKey, script, c);

  console.log(`c/b = ${(c.rps / b.rps).toFixed(2)}   c/c1 = ${(c.rps / c1.rps).toFixed(2)}   d/b = ${(d.rps / b.rps).toFixed(2)}   d2/d = ${(d2.rps / d.rps).toFixed(2)}   ${access}`);
  await runChains(upstream.url);
}

/** (d2): a Redis master with one replica, and the verifier with `wait_replicas: 1`. */
async function runReplicated(verifierPort: number, upstream: string, publicKeyFile: string, script: string, tokens: string): Promise<Result> {
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  const replicaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-replica-'));
  start('redis-server', ['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0']);
  await waitForPort(masterPort);
  start('redis-server', ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', replicaDir, '--replicaof', '127.0.0.1', String(masterPort)]);
  await waitForPort(replicaPort);
  for (let attempt = 0; !/slave0:.*state=online/.test(execFileSync('redis-cli', ['-p', String(masterPort), 'info', 'replication']).toString()); attempt++) {
    if (attempt > 100) throw new Error('the bench replica did not come online');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const nonceStorage = `{type: redis, options: {url: "redis://127.0.0.1:${masterPort}", wait_replicas: 1, wait_timeout: 100ms}}`;
  const verifier = await startVerifier(verifierPort, upstream, publicKeyFile, nonceStorage);
  warmUp(verifier.url, script, tokens);
  const d2 = measured([verifier.child.pid!], `(d2) verifier, RS256, Redis nonces acknowledged by 1 replica, workers: ${WORKERS ?? 'default'}`, verifier.url, script, { TOKENS: tokens });
  await stop(verifier.child);
  return d2;
}

/**
 * Behind Cloudflare Access: (b2) the pass-through sent one reused Access token, the baseline
 * of (h) which gets the very same requests (wrk without a script: its own cost is lower than
 * with the token files, so (b) is no baseline for these); (i) unique tokens (with `c`, the
 * verifier's unique-token run to compare with); (j) and (k) a policy. Returns the ratios.
 */
async function runAccess(upstream: string, port: number, publicKey: crypto.KeyObject, privateKey: crypto.KeyObject, script: string, c?: Result): Promise<string> {
  const teamDomain = await startAccessCerts(publicKey);
  const audienceTag = crypto.randomBytes(32).toString('hex');
  const unique = await accessTokens(c ? ACCESS_TOKENS : 1, teamDomain, audienceTag, privateKey);
  const reused = [`Cf-Access-Jwt-Assertion: ${unique[0]}`];

  const passWorkers = WORKERS ?? DEFAULT_WORKERS;
  const pass = start(process.execPath, [path.join(ROOT, 'dist/bench/passThrough.js'), String(port), upstream, String(passWorkers)]);
  await waitForPort(port);
  wrk('warm-up', `http://127.0.0.1:${port}/`, undefined, {}, WARM_UP, reused);
  const b2 = measured([pass.pid!], `(b2) pass-through, one reused Access token, ${passWorkers} workers`, `http://127.0.0.1:${port}/`, undefined, {}, DURATION, reused);
  console.log(row(b2));
  await stop(pass);

  const access = await startAccessVerifier(port, upstream, teamDomain, audienceTag);
  wrk('warm-up', access.url, undefined, {}, WARM_UP, reused);
  const h = measured([access.child.pid!], '(h) Access verifier, one reused 24 h token', access.url, undefined, {}, DURATION, reused);
  console.log(row(h));
  let uniqueRatio = '';
  if (c) {
    const accessFile = path.join(work, 'access-tokens.txt');
    fs.writeFileSync(accessFile, `${unique.join('\n')}\n`);
    wrk('warm-up', access.url, script, { TOKENS: accessFile, HEADER: 'Cf-Access-Jwt-Assertion', START: String(ACCESS_TOKENS - WARM_UP_TOKENS) }, WARM_UP);
    const i = measured([access.child.pid!], '(i) Access verifier, a fresh token per request', access.url, script, { TOKENS: accessFile, HEADER: 'Cf-Access-Jwt-Assertion' });
    console.log(row(i));
    uniqueRatio = `   i/c = ${(i.rps / c.rps).toFixed(2)}`;
  }
  await stop(access.child);

  // The same reused token through a policy: one CEL rule and two identity headers, then the rule in Lua.
  const luaScript = path.join(work, 'policy.lua');
  fs.writeFileSync(luaScript, LUA_RULE);
  const policies = [
    ['(j) Access verifier + CEL rule + 2 identity headers', CEL_RULE + IDENTITY_HEADERS],
    ['(k) Access verifier + Lua rule + 2 identity headers', `      claims_verifiers: [{type: lua, options: {script: "${luaScript}"}}]\n${IDENTITY_HEADERS}`],
  ] as const;
  const withPolicy: Result[] = [];
  for (const [name, policy] of policies) {
    const verifier = await startAccessVerifier(port, upstream, teamDomain, audienceTag, policy);
    wrk('warm-up', verifier.url, undefined, {}, WARM_UP, reused);
    const result = measured([verifier.child.pid!], name, verifier.url, undefined, {}, DURATION, reused);
    console.log(row(result));
    withPolicy.push(result);
    await stop(verifier.child);
  }
  const [cel, lua] = withPolicy;
  return `h/b2 = ${(h.rps / b2.rps).toFixed(2)}${uniqueRatio}   j/h = ${(cel.rps / h.rps).toFixed(2)}   k/h = ${(lua.rps / h.rps).toFixed(2)}`;
}

async function runChains(upstream: string): Promise<void> {
  // (e) and (f) saturate: every connection sends again at once, so p99 is mostly queueing.
  // (g) offers a little over 3 k/s (64 connections, random pauses of 16 ms on average) and
  // shows the latency at that load.
  const runs = [
    ['(e) chain wrk → signer → verifier, RS256', 'rsa', 0],
    ['(f) chain wrk → signer → verifier, ES256', 'ec', 0],
    ['(g) chain RS256 at ~3.3 k/s offered', 'rsa', CHAIN_MEAN_PAUSE_MS],
  ] as const;
  for (const [name, algorithm, meanPauseMs] of runs) {
    const result = await chain(name, algorithm, upstream, meanPauseMs);
    console.log(
      `${row(result)}   CPU: signer ${result.signerCpu.toFixed(2)} cores ${result.signerUs.toFixed(0)} µs/req, verifier ${result.verifierCpu.toFixed(2)} cores ${result.verifierUs.toFixed(0)} µs/req`,
    );
  }
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
