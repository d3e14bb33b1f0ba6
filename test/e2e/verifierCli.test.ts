// The real jwtproxy command line (dist/, as a child process) running a verifier: flags,
// config checking, start-up failures and graceful stop. Run `npm run build` first.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runCli, tempDir, type RunningCli } from '../support/cli';
import { cliLogLines } from '../support/cliLogLines';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { closedPort } from '../support/closedPort';
import { eventually } from '../support/eventually';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { RedisServer } from '../support/redisServer';
import { runCliToExit } from '../support/runCliToExit';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';
import { within } from '../support/within';

const running: RunningCli[] = [];
const upstreams: TestUpstream[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((cli) => stopCli(cli)));
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

function start(yaml: string, args: string[] = []): RunningCli {
  const cli = runCli(yaml, args);
  running.push(cli);
  return cli;
}

async function upstream(answer?: ConstructorParameters<typeof TestUpstream>[0]): Promise<[TestUpstream, string]> {
  const server = new TestUpstream(answer);
  upstreams.push(server);
  return [server, await server.listen()];
}

/** Writes a config file and returns its path. */
function configFile(yaml: string, dir = tempDir()): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}

const validConfig = () => cliVerifierYaml({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9/' });
const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;

describe('command line', () => {
  test('`-config FILE -check` exits 0 and says the file is valid', async () => {
    const file = configFile(validConfig());
    const result = await runCliToExit(['-config', file, '-check']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`${file}: configuration is valid\n`);
  });

  test('`check -config FILE` exits 0 and says the file is valid', async () => {
    const file = configFile(validConfig());
    const result = await runCliToExit(['check', '-config', file]);
    expect(result).toMatchObject({ code: 0, stdout: `${file}: configuration is valid\n`, stderr: '' });
  });

  test('the `--config=FILE` form is read like `-config FILE`', async () => {
    const file = configFile(validConfig());
    const result = await runCliToExit([`--config=${file}`, '--check']);
    expect(result).toMatchObject({ code: 0, stdout: `${file}: configuration is valid\n` });
  });

  test('$VAR and ${VAR} in the config path are expanded from the environment', async () => {
    const dir = tempDir();
    configFile(validConfig(), dir);
    const bare = await runCliToExit(['-config', '$JWTPROXY_E2E_DIR/config.yaml', '-check'], { JWTPROXY_E2E_DIR: dir });
    const braced = await runCliToExit(['-config', '${JWTPROXY_E2E_DIR}/config.yaml', '-check'], { JWTPROXY_E2E_DIR: dir });
    expect(bare.code).toBe(0);
    expect(braced.code).toBe(0);
  });

  test('a malformed config exits 1 with `jwtproxy: invalid configuration: <path>: <problem>` on stderr', async () => {
    const file = configFile(validConfig().replace('      audience:', '      max_ttl: 5 minutes\n      audience:'));
    const result = await runCliToExit(['-config', file, '-check']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^jwtproxy: invalid configuration: jwtproxy\.verifier_proxies\[0\]\.verifier\.max_ttl: "5 minutes" is not a duration\b.*\n$/);
  });

  test('a malformed config stops the proxy from starting, with the same message', async () => {
    const file = configFile(validConfig().replace('      audience:', '      max_ttl: 5 minutes\n      audience:'));
    const result = await runCliToExit(['-config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^jwtproxy: invalid configuration: jwtproxy\.verifier_proxies\[0\]\.verifier\.max_ttl: "5 minutes" is not a duration\b/);
  });

  test('`-check` refuses a config that cannot start: a missing key file, at its YAML path', async () => {
    const keyFile = path.join(tempDir(), 'missing.pub');
    const result = await runCliToExit(['-config', configFile(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: 'http://127.0.0.1:9/', publicKeyPath: keyFile })), '-check']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].verifier.key_server.options.public_key_path: cannot read ${keyFile}: ENOENT (no such file or directory)\n`,
    );
  });

  test('`-check` reports every problem it finds, one line each', async () => {
    const dir = tempDir();
    const yaml = cliVerifierYaml({ listen: `unix:${dir}/absent/verifier.sock`, upstream: 'http://127.0.0.1:9/', publicKeyPath: dir });
    const result = await runCliToExit(['-config', configFile(yaml), '-check']);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toEqual([
      `jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].listen_addr: the directory ${dir}/absent of the unix socket does not exist; create it, or choose another path`,
      `jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].verifier.key_server.options.public_key_path: ${dir} is a directory; give the path of a file`,
      '',
    ]);
  });

  test("`-check` loads Lua scripts: a syntax error exits 1 with the YAML path and Lua's line", async () => {
    const dir = tempDir();
    const script = path.join(dir, 'policy.lua');
    fs.writeFileSync(script, 'function verify(input)\n  if input.claims.admin then return true\nend\n');
    const file = configFile(`${validConfig()}      claims_verifiers: [{type: lua, options: {script: ${script}}}]\n`, dir);
    const result = await runCliToExit(['-config', file, '-check']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `jwtproxy: invalid configuration: jwtproxy.verifier_proxies[0].verifier.claims_verifiers[0].options.script: ${script}:4: 'end' expected (to close 'function' at line 1) near <eof> (not valid Lua 5.4)\n`,
    );
    fs.writeFileSync(script, 'function verify(input)\n  return input.claims.admin == true\nend\n');
    expect(await runCliToExit(['-config', file, '-check'])).toMatchObject({ code: 0, stdout: `${file}: configuration is valid\n` });
  });

  test('a Lua script that does not load stops the proxy from starting', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'policy.lua');
    fs.writeFileSync(script, 'function check(input) return true end\n');
    const file = configFile(`${validConfig()}      claims_verifiers: [{type: lua, options: {script: ${script}}}]\n`, dir);
    const result = await runCliToExit(['-config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'jwtproxy: failed to start: jwtproxy.verifier_proxies[0].verifier.claims_verifiers[0].options.function: the script defines no global function verify (verify is a nil value)',
    );
  });

  test('a config file that cannot be read exits 1 naming the file', async () => {
    const missing = path.join(tempDir(), 'absent.yaml');
    const result = await runCliToExit(['-config', missing, '-check']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`jwtproxy: invalid configuration: cannot read the config file ${missing}: ENOENT\n`);
  });

  test('--help prints the usage and exits 0', async () => {
    const result = await runCliToExit(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: jwtproxy -config FILE \[-log-level debug\|info\|warn\|error\|fatal\|panic\]\n/);
    expect(result.stdout).toContain('jwtproxy check -config FILE');
  });

  test('--version prints the package version and exits 0', async () => {
    const result = await runCliToExit(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `jwtproxy ${PACKAGE_VERSION}\n`, stderr: '' });
  });
});

// One process (workers: 1) unless a test says otherwise: test/e2e/verifierCluster.test.ts covers
// the same in multi-core mode, the default.
describe('start and stop', () => {
  test.each([1, 2])('with every proxy disabled (workers: %i) it logs "No proxy is enabled. Terminating." and exits 0', async (workers) => {
    const yaml = `jwtproxy:\n  workers: ${workers}\n  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - enabled: false\n    verifier: {upstream: http://127.0.0.1:9/, audience: ${CLI_AUDIENCE}, key_server: {type: preshared, options: {issuer: a, key_id: b, public_key_path: /nonexistent}}}\n`;
    const cli = start(yaml);
    expect(await within(cli.exited, 5000, 'jwtproxy exits')).toBe(0);
    expect(cliLogLines(cli.output).map((line) => line.msg)).toEqual(['No proxy is enabled. Terminating.']);
  });

  test('a port already in use fails the start with exit 1 and stops what had started (Redis client included)', async () => {
    const redis = await RedisServer.start();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const yaml = cliVerifierYaml({ listen: `127.0.0.1:${port}`, upstream: 'http://127.0.0.1:9/', nonceStorage: `{type: redis, options: {url: "${redis.url}"}}`, workers: 1 });
      const cli = start(yaml);
      expect(await within(cli.exited, 5000, 'jwtproxy exits')).toBe(1);
      expect(cli.output).toContain(`jwtproxy: failed to start: jwtproxy.verifier_proxies[0].listen_addr: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
    } finally {
      blocker.close();
      await redis.kill();
    }
  });

  test('a missing preshared public key file makes start-up fail with a message naming its YAML path and the file', async () => {
    const keyFile = path.join(tempDir(), 'missing.pub');
    const port = await closedPort();
    const cli = start(cliVerifierYaml({ listen: `127.0.0.1:${port}`, upstream: 'http://127.0.0.1:9/', publicKeyPath: keyFile, workers: 1 }));
    const code = await within(cli.exited, 5000, 'jwtproxy exits');
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const problem = `jwtproxy.verifier_proxies[0].verifier.key_server.options.public_key_path: cannot read ${keyFile}: ENOENT (no such file or directory)`;
    // Reported once, as one plain line: an operator's mistake needs no stack trace.
    expect(cli.output.split(problem)).toHaveLength(2);
    expect(cli.output).toContain(`jwtproxy: failed to start: ${problem}\n`);
    expect(cli.output).not.toMatch(/^\s+at /m);
    // Nothing was left listening.
    await expect(httpRequest(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('SIGTERM lets an in-flight request finish with 200, exits 0 and removes the unix socket file', async () => {
    const [server, upstreamUrl] = await upstream((_req, res) => setTimeout(() => res.end('slow ok'), 1000));
    const socket = path.join(tempDir(), 'verifier.sock');
    const cli = start(cliVerifierYaml({ listen: `unix:${socket}`, upstream: upstreamUrl, shutdownTimeout: '5s', workers: 1 }));
    await cli.waitFor('verifier proxy started');
    expect(fs.statSync(socket).isSocket()).toBe(true);

    let answered = false;
    const answer = httpRequest(`unix:${socket}`, { headers: bearer(await mintToken({ audience: CLI_AUDIENCE })) }).finally(() => (answered = true));
    await eventually(() => server.received.length === 1, 'the request reaches the upstream');
    cli.child.kill('SIGTERM');
    await cli.waitFor('"msg":"stopping"');
    expect(answered).toBe(false); // still in flight while the proxy stops

    expect(await answer).toMatchObject({ status: 200, body: 'slow ok' });
    expect(await within(cli.exited, 5000, 'jwtproxy exits')).toBe(0);
    expect(fs.existsSync(socket)).toBe(false);
  });
});
