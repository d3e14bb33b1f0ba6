// What an operator meets on day one, through the real CLI: a strict command line, start-up
// logs, ${VAR} and secret files in the YAML, ~ in paths, tools that make their folders.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runCli, tempDir, type RunningCli } from '../support/cli';
import { cliLogLines } from '../support/cliLogLines';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { bearer, httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { mintToken } from '../support/mintToken';
import { RedisServer } from '../support/redisServer';
import { runCliToExit } from '../support/runCliToExit';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';
import { within } from '../support/within';

const VERSION = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;

function writeConfig(yaml: string, folder = tempDir()): string {
  const file = path.join(folder, 'config.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}

/** Keys that appear twice in one object of a JSON line (JSON.parse would keep the last silently). */
function duplicatedKeys(text: string): string[] {
  const duplicated: string[] = [];
  const objects: (Set<string> | undefined)[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      const key = text.slice(i + 1, end);
      if (keys && text[end + 1] === ':') {
        if (keys.has(key)) duplicated.push(key);
        keys.add(key);
      }
      i = end;
    } else if (char === '{') objects.push(new Set());
    else if (char === '[') objects.push(undefined);
    else if (char === '}' || char === ']') objects.pop();
  }
  return duplicated;
}

/** CONFIG SET requirepass, over a raw connection. */
function requirePassword(port: number, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`CONFIG SET requirepass ${password}\r\n`));
    socket.once('data', (data) => {
      socket.destroy();
      if (data.toString().startsWith('+OK')) resolve();
      else reject(new Error(`redis answered ${data.toString()}`));
    });
    socket.once('error', reject);
  });
}

const running: RunningCli[] = [];
const upstream = new TestUpstream();
let upstreamUrl = '';
beforeAll(async () => {
  upstreamUrl = await upstream.listen();
});
afterEach(async () => {
  while (running.length) await stopCli(running.pop()!);
});
afterAll(() => upstream.close());

function start(yaml: string, env: NodeJS.ProcessEnv = {}): RunningCli {
  const cli = runCli(yaml, [], env);
  running.push(cli);
  return cli;
}

describe('a strict command line, as Go flag gives the Go jwtproxy', () => {
  test('an unknown flag exits 2 and names it', async () => {
    const result = await runCliToExit(['-config', writeConfig(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9/' })), '-confgi', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^jwtproxy: flag provided but not defined: -confgi\nUsage: jwtproxy /);
  });

  test('an unknown subcommand exits 2 and names it', async () => {
    const result = await runCliToExit(['generate-keys', '-out', 'k.pem']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^jwtproxy: unknown command "generate-keys"\n/);
  });

  test('a config file given without -config is named as such', async () => {
    const result = await runCliToExit(['config.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "config.yaml" (did you mean -config config.yaml?)');
  });

  test('-check without a file says it needs one, instead of checking the defaults', async () => {
    const result = await runCliToExit(['-check']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^jwtproxy: -check needs the file to check: jwtproxy -config FILE -check\n/);
  });

  test.each([
    ['an empty file', '', 'is empty: everything jwtproxy reads goes under a top-level jwtproxy: key'],
    ['a misspelt top-level key', 'jwtprxy:\n  workers: 1\n', 'has no jwtproxy: section (its top-level keys: jwtprxy): everything jwtproxy reads goes under a top-level jwtproxy: key'],
  ])('%s says exactly that, at -check and at start', async (_what, yaml, problem) => {
    const file = writeConfig(yaml);
    for (const args of [
      ['-config', file, '-check'],
      ['-config', file],
    ]) {
      const result = await runCliToExit(args);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`jwtproxy: invalid configuration: ${file} ${problem} (see config.example.yaml)\n`);
    }
  });

  test.each(['generate-ca', 'generate-key', 'mint-token', 'verify-token', 'registry', 'demo', 'check'])('%s --help prints its own usage and exits 0', async (command) => {
    const result = await runCliToExit([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^usage: jwtproxy ${command}\\b`));
  });

  test('a port in use is reported once, without a stack trace, with every worker failing alike', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const cli = start(cliVerifierYaml({ listen: `127.0.0.1:${port}`, upstream: upstreamUrl, workers: 2 }));
      expect(await within(cli.exited, 15_000, 'jwtproxy exits')).toBe(1);
      expect(cli.output.match(/EADDRINUSE/g)).toHaveLength(1);
      expect(cli.output).toContain(`jwtproxy: failed to start: jwtproxy.verifier_proxies[0].listen_addr: bind EADDRINUSE 127.0.0.1:${port}\n`);
      expect(cli.output).not.toMatch(/^\s+at /m);
    } finally {
      blocker.close();
    }
  });

  test('the demo names the port in use and the -base-port way out, without a stack trace', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      // The blocked port is the demo's upstream: N itself.
      const result = await runCliToExit(['demo', '-base-port', String(port)], {}, 20_000);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `jwtproxy demo: port ${port} (upstream) is already in use: stop what listens there, or move the demo with -base-port N (it uses N, N+70, N+80, N+81, N+82 and N+90; now N is ${port})\n`,
      );
    } finally {
      blocker.close();
    }
  });
});

describe('logs', () => {
  test.each([1, 2])('levels are words; one start-up summary with the version and one "ready" line (workers: %i)', async (workers) => {
    const cli = start(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: upstreamUrl, workers }));
    await cli.logLines('ready');
    // A little longer: a second "ready" would come now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const lines = cliLogLines(cli.output);
    expect(lines.filter((line) => line.msg === 'ready')).toHaveLength(1);
    const summaries = lines.filter((line) => line.msg === `jwtproxy ${VERSION} starting`);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      level: 'info',
      version: VERSION,
      node: process.version,
      workers,
      listen: { 'verifier_proxies[0]': '127.0.0.1:0' },
      keySets: { 'verifier_proxies[0]': `preshared mykey of jwtproxy (${interopFile('mykey.pub')})` },
    });
    expect(new Set(lines.map((line) => line.level))).toEqual(new Set(['info']));
    for (const text of cli.output.split('\n').filter((line) => line.startsWith('{'))) expect(duplicatedKeys(text)).toEqual([]);
  });
});

describe('settings and secrets from the environment', () => {
  test('${VAR} takes its value from the environment, typed as YAML would read it', async () => {
    const yaml = cliVerifierYaml({ listen: '${LISTEN}', upstream: '${UPSTREAM}' }).replace('jwtproxy:\n', 'jwtproxy:\n  workers: ${WORKERS:-1}\n');
    const cli = start(yaml, { LISTEN: '127.0.0.1:0', UPSTREAM: upstreamUrl });
    const url = await cli.boundAddress('verifier proxy started');
    const [summary] = await cli.logLines(`jwtproxy ${VERSION} starting`);
    expect(summary).toMatchObject({ workers: 1, configured: 1 });
    const token = await mintToken({ audience: CLI_AUDIENCE.replace(/\/$/, '') });
    expect((await httpRequest(url, { headers: bearer(token) })).status).toBe(200);
  });

  test('a missing variable is named, with the YAML path it is at', async () => {
    const file = writeConfig(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: '${APP_UPSTREAM}' }));
    const result = await runCliToExit(['-config', file, '-check'], { APP_UPSTREAM: undefined });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].verifier.upstream: the environment variable APP_UPSTREAM is not set (the value is "${APP_UPSTREAM}"): set it, or write ${APP_UPSTREAM:-default} to give a default\n',
    );
  });

  test('a Redis password read from a file (a mounted Kubernetes Secret) authenticates the nonce store', async () => {
    const redis = await RedisServer.start();
    try {
      // Set after start: the helper's readiness probe speaks to Redis without a password.
      await requirePassword(redis.port, 's3cret-from-a-secret');
      const secretFile = path.join(tempDir(), 'redis-password');
      fs.writeFileSync(secretFile, 's3cret-from-a-secret\n');
      const cli = start(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: upstreamUrl, workers: 1, nonceStorage: `{type: redis, options: {url: "${redis.url}", password_file: ${secretFile}}}` }));
      const url = await cli.boundAddress('verifier proxy started');
      const token = await mintToken({ audience: CLI_AUDIENCE.replace(/\/$/, '') });
      expect((await httpRequest(url, { headers: bearer(token) })).status).toBe(200);
      expect((await httpRequest(url, { headers: bearer(token) })).status).toBe(403);
      expect(cli.output).not.toContain('s3cret-from-a-secret');
    } finally {
      await redis.kill();
    }
  });

  test('the registry admin token read from a file guards the admin API', async () => {
    const tokenFile = path.join(tempDir(), 'admin-token');
    fs.writeFileSync(tokenFile, 'admin-token-from-a-file\n');
    const cli = start(`jwtproxy:\n  signer_proxy: {enabled: false}\n  key_registry:\n    listen_addr: 127.0.0.1:0\n    admin: {enabled: true, listen_addr: 127.0.0.1:0, token_file: ${tokenFile}}\n`);
    const [listening] = await cli.logLines('key registry listening');
    const admin = `${String(listening.admin).replace(/\/$/, '')}/keys`;
    expect((await httpRequest(admin)).status).toBe(401);
    expect((await httpRequest(admin, { headers: bearer('admin-token-from-a-file') })).status).toBe(200);
    expect(cli.output).not.toContain('admin-token-from-a-file');
  });

  test.each([
    ['token and token_file both', (file: string) => `{enabled: true, token: inline, token_file: ${file}}`, 'jwtproxy.key_registry.admin.token_file: give token or token_file, not both'],
    ['a token_file that does not exist', () => '{enabled: true, token_file: /nonexistent/admin-token}', 'jwtproxy.key_registry.admin.token_file: cannot read /nonexistent/admin-token: ENOENT'],
  ])('%s is refused at its YAML path', async (_what, admin, problem) => {
    const tokenFile = path.join(tempDir(), 'admin-token');
    fs.writeFileSync(tokenFile, 'x\n');
    const file = writeConfig(`jwtproxy:\n  signer_proxy: {enabled: false}\n  key_registry:\n    admin: ${admin(tokenFile)}\n`);
    const result = await runCliToExit(['-config', file, '-check']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`jwtproxy: invalid configuration: ${problem}\n`);
  });
});

describe('paths', () => {
  test('~ in a path is the home folder', async () => {
    const home = tempDir();
    fs.mkdirSync(path.join(home, 'keys'));
    fs.copyFileSync(interopFile('mykey.pub'), path.join(home, 'keys/mykey.pub'));
    const cli = start(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: upstreamUrl, workers: 1, publicKeyPath: '~/keys/mykey.pub' }), { HOME: home });
    const [summary] = await cli.logLines(`jwtproxy ${VERSION} starting`);
    expect(summary.keySets).toEqual({ 'verifier_proxies[0]': `preshared mykey of jwtproxy (${home}/keys/mykey.pub)` });
    const url = await cli.boundAddress('verifier proxy started');
    expect((await httpRequest(url, { headers: bearer(await mintToken({ audience: CLI_AUDIENCE.replace(/\/$/, '') })) })).status).toBe(200);
  });

  test('an autogenerated key_folder under ~ is in the home folder, not in a folder named "~"', async () => {
    const home = tempDir();
    const cli = start(
      'jwtproxy:\n  workers: 1\n  signer_proxy:\n    listen_addr: 127.0.0.1:0\n    signer:\n      private_key: {type: autogenerated, options: {key_folder: ~/.config/jwtproxy, key_server: {type: keyregistry, options: {registry: "http://127.0.0.1:9/"}}}}\n',
      { HOME: home },
    );
    const [summary] = await cli.logLines(`jwtproxy ${VERSION} starting`);
    expect(summary.signingKey).toBe(`autogenerated RS256 in ${home}/.config/jwtproxy, published to http://127.0.0.1:9/`);
  });

  test('~user is refused at its YAML path', async () => {
    const file = writeConfig(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9/', publicKeyPath: '~alice/mykey.pub' }));
    const result = await runCliToExit(['-config', file, '-check']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].verifier.key_server.options.public_key_path: "~alice/mykey.pub": only ~ and ~/… (the home folder of the user running jwtproxy) are expanded; write the full path\n',
    );
  });

  test('the key and CA tools create their output folders', async () => {
    const folder = tempDir();
    const key = await runCliToExit(['generate-key', '-out', path.join(folder, 'keys/signer/key.pem'), '-pub', path.join(folder, 'keys/verifier/key.pub')]);
    expect(key.code).toBe(0);
    expect(fs.statSync(path.join(folder, 'keys/signer')).mode & 0o777).toBe(0o700);
    const ca = await runCliToExit(['generate-ca', '-out-key', path.join(folder, 'ca/ca.key'), '-out-cert', path.join(folder, 'ca/ca.crt')]);
    expect(ca.code).toBe(0);
    expect(fs.existsSync(path.join(folder, 'ca/ca.crt'))).toBe(true);
  });

  test('an output folder that cannot be made is named', async () => {
    const folder = tempDir();
    fs.writeFileSync(path.join(folder, 'keys'), 'a file, not a folder');
    const result = await runCliToExit(['generate-key', '-out', path.join(folder, 'keys/key.pem')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`jwtproxy generate-key: cannot create the output folder ${path.join(folder, 'keys')}: a file of that name is in the way\n`);
  });
});
