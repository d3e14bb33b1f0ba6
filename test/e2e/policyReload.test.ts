// SIGHUP replaces a verifier's policy from the re-read file, through the real CLI: rules,
// claims_to_headers, excludes and audiences change without a restart; a file that does not load
// changes nothing and says so once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir, type RunningCli } from '../support/cli';
import { cliLogLines } from '../support/cliLogLines';
import { bearer, httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { mintToken } from '../support/mintToken';
import { stopCli } from '../support/stopCli';
import { TestUpstream } from '../support/testUpstream';

const AUDIENCE = 'http://verifier.test';

interface Policy {
  rule?: string;
  headers?: string;
  excludes?: string;
  audience?: string;
  lua?: string;
  listen?: string;
  /** A further line under verifier:. */
  extra?: string;
}

const upstream = new TestUpstream();
let upstreamUrl = '';
const running: RunningCli[] = [];
beforeAll(async () => {
  upstreamUrl = await upstream.listen();
});
afterEach(async () => {
  while (running.length) await stopCli(running.pop()!);
});
afterAll(() => upstream.close());

function yaml(policy: Policy, workers: number, folder: string): string {
  const lines = [
    'jwtproxy:',
    `  workers: ${workers}`,
    '  signer_proxy: {enabled: false}',
    '  verifier_proxies:',
    `  - listen_addr: ${policy.listen ?? '127.0.0.1:0'}`,
    '    shutdown_timeout: 1s',
    '    verifier:',
    `      upstream: ${upstreamUrl}`,
    `      audience: ${policy.audience ?? AUDIENCE}`,
    `      key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${interopFile('mykey.pub')}}}`,
  ];
  if (policy.extra) lines.push(`      ${policy.extra}`);
  if (policy.headers) lines.push(`      claims_to_headers: ${policy.headers}`);
  if (policy.excludes) lines.push(`      excludes: ${policy.excludes}`);
  const verifiers: string[] = [];
  if (policy.rule) verifiers.push(`{type: cel, options: {expression: '${policy.rule}'}}`);
  if (policy.lua !== undefined) {
    fs.writeFileSync(path.join(folder, 'rule.lua'), policy.lua);
    verifiers.push(`{type: lua, options: {script: ${path.join(folder, 'rule.lua')}}}`);
  }
  if (verifiers.length) lines.push(`      claims_verifiers: [${verifiers.join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

class Deployment {
  private constructor(
    readonly cli: RunningCli,
    readonly url: string,
    private readonly file: string,
    private readonly folder: string,
    private readonly workers: number,
  ) {}

  static async start(policy: Policy, workers = 1): Promise<Deployment> {
    const folder = tempDir();
    const file = path.join(folder, 'config.yaml');
    fs.writeFileSync(file, yaml(policy, workers, folder));
    const cli = runCli(undefined, ['-config', file]);
    running.push(cli);
    const url = await cli.boundAddress('verifier proxy started', workers);
    await cli.logLines('ready');
    return new Deployment(cli, url, file, folder, workers);
  }

  /** Writes the file anew (or `text` as is), sends SIGHUP and waits for the `count`-th line `msg` (once per test). */
  async reload(policy: Policy | string, msg: string, count: number): Promise<void> {
    fs.writeFileSync(this.file, typeof policy === 'string' ? policy : yaml(policy, this.workers, this.folder));
    this.cli.child.kill('SIGHUP');
    await this.cli.logLines(msg, count);
    // Every process has also re-read its keys: the reload (one per test) is over.
    await this.cli.logLines('reloaded keys and certificates', this.workers > 1 ? this.workers + 1 : 1);
  }

  async status(sub: string, options: { audience?: string; path?: string } = {}): Promise<number> {
    const token = await mintToken({ audience: options.audience ?? AUDIENCE, claims: { sub } });
    return (await httpRequest(`${this.url}${options.path ?? '/'}`, { headers: bearer(token) })).status;
  }
}

test('a changed CEL rule takes effect on SIGHUP, without a restart', async () => {
  const deployment = await Deployment.start({ rule: 'claims.sub == "alice"' });
  expect(await deployment.status('alice')).toBe(200);
  expect(await deployment.status('bob')).toBe(403);
  await deployment.reload({ rule: 'claims.sub == "bob"' }, 'reloaded policy', 1);
  expect(await deployment.status('alice')).toBe(403);
  expect(await deployment.status('bob')).toBe(200);
  expect(deployment.cli.child.exitCode).toBeNull();
});

test('claims_to_headers, excludes and the audience are replaced too', async () => {
  const deployment = await Deployment.start({});
  await deployment.reload({ headers: '{X-User: claims.sub}', excludes: '[/public/*]', audience: 'http://renamed.test' }, 'reloaded policy', 1);
  expect(await deployment.status('carol', { audience: 'http://renamed.test' })).toBe(200);
  expect(upstream.last.headers['x-user']).toBe('carol');
  expect(await deployment.status('carol')).toBe(403);
  expect((await httpRequest(`${deployment.url}/public/page`)).status).toBe(200);
});

test('a file that does not load is refused in one line and the running policy stays', async () => {
  const deployment = await Deployment.start({ rule: 'claims.sub == "alice"' });
  await deployment.reload({ rule: 'claims.sub == "bob"', extra: 'max_tll: 5m' }, 'reload refused: the configuration file is not valid; the running configuration stays in use', 1);
  const refusals = cliLogLines(deployment.cli.output).filter((line) => line.msg.startsWith('reload refused'));
  expect(refusals).toHaveLength(1);
  expect(refusals[0]).toMatchObject({ level: 'error', error: expect.stringContaining('jwtproxy.verifier_proxies[0].verifier.max_tll: unknown key') });
  expect(await deployment.status('alice')).toBe(200);
  expect(await deployment.status('bob')).toBe(403);
});

test('a Lua script that does not compile is refused and the running policy stays', async () => {
  const deployment = await Deployment.start({ lua: 'function verify(input) return input.claims.sub == "alice" end\n' });
  expect(await deployment.status('bob')).toBe(403);
  await deployment.reload({ lua: 'function verify(input) return = end\n' }, 'reload refused: the configuration file is not valid; the running configuration stays in use', 1);
  expect(await deployment.status('alice')).toBe(200);
  expect(await deployment.status('bob')).toBe(403);
});

test('a setting only a restart applies is named, and the policy is still replaced', async () => {
  const deployment = await Deployment.start({ rule: 'claims.sub == "alice"' });
  await deployment.reload({ rule: 'claims.sub == "bob"', listen: '127.0.0.1:1' }, 'reloaded policy', 1);
  const [warning] = await deployment.cli.logLines('these settings changed in the file but take effect only on restart: the running ones stay in use');
  expect(warning.settings).toEqual(['jwtproxy.verifier_proxies[0] (listener)']);
  expect(await deployment.status('bob')).toBe(200);
});

describe('with workers', () => {
  test('every worker takes the new policy', async () => {
    const deployment = await Deployment.start({ rule: 'claims.sub == "alice"' }, 2);
    await deployment.reload({ rule: 'claims.sub == "bob"' }, 'reloaded policy', 2);
    for (let i = 0; i < 6; i++) expect(await deployment.status('bob')).toBe(200);
  });

  test('an invalid file is reported once, by the primary, and no worker changes', async () => {
    const deployment = await Deployment.start({ rule: 'claims.sub == "alice"' }, 2);
    await deployment.reload('jwtproxy: [', 'reload refused: the configuration file is not valid; the running configuration stays in use', 1);
    expect(cliLogLines(deployment.cli.output).filter((line) => line.msg.startsWith('reload refused'))).toHaveLength(1);
    for (let i = 0; i < 4; i++) expect(await deployment.status('alice')).toBe(200);
  });
});
