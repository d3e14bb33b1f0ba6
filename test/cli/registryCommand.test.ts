// `jwtproxy registry … -config FILE`, run as the real binary against the file storage of a running registry.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { getKey, newPublisher, putKey, registryConfig, SERVICE, startRegistry, TestClock, type Publisher } from '../registry/registryTestKit';
import { tempDir } from '../support/cli';
import { runTool } from './runTool';

let directory: string;
let configFile: string;
let alice: Publisher;
let registry: Awaited<ReturnType<typeof startRegistry>>;

beforeAll(async () => {
  alice = await newPublisher('alice-key');
});

beforeEach(async () => {
  directory = tempDir();
  const storagePath = path.join(directory, 'keys.json');
  configFile = path.join(directory, 'config.yaml');
  await fs.writeFile(
    configFile,
    `jwtproxy:
  signer_proxy: {enabled: false}
  key_registry:
    listen_addr: 127.0.0.1:0
    storage: {type: file, options: {path: ${storagePath}}}
`,
  );
  // The CLI runs on the real clock: so does this registry.
  const clock = new TestClock(Date.now());
  registry = await startRegistry(registryConfig({ storage: { type: 'file', path: storagePath } }), clock);
  await putKey(registry, clock, alice);
});

afterEach(async () => {
  await registry.stopAll();
  await fs.rm(directory, { recursive: true, force: true });
});

test('list prints the keys of the registry the config names', async () => {
  const run = await runTool(['registry', 'list', '-config', configFile]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines[0]).toBe('SERVICE\tKID\tSTATE\tEXPIRES\tCREATED\tREVOKE_AT');
  expect(lines.slice(1).map((line) => line.split('\t').slice(0, 3))).toEqual([[SERVICE, 'alice-key', 'pending']]);
});

test('approve is seen by the running registry at once', async () => {
  const run = await runTool(['-config', configFile, 'registry', 'approve', SERVICE, 'alice-key']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^approved: myservice\talice-key\tapproved\t/);
  expect((await getKey(registry, alice.kid)).status).toBe(200);
});

test('--state reaches the registry command', async () => {
  const run = await runTool(['registry', 'list', '--state', 'approved', '-config', configFile]);
  expect(run.stdout.trimEnd().split('\n')).toHaveLength(1);
});

test('a failure goes to stderr with exit code 1', async () => {
  const run = await runTool(['registry', 'revoke', SERVICE, 'nope', '-config', configFile]);
  expect(run).toMatchObject({ code: 1, stdout: '', stderr: `error: no key ${SERVICE}/"nope"\n` });
});

test('a config without a key_registry block is an error', async () => {
  const file = path.join(directory, 'none.yaml');
  await fs.writeFile(file, 'jwtproxy:\n  signer_proxy: {enabled: false}\n');
  const run = await runTool(['registry', 'list', '-config', file]);
  expect(run.code).toBe(1);
  expect(run.stderr).toBe(`jwtproxy registry: ${file} has no jwtproxy.key_registry block: there is no key registry to manage\n`);
});

test('usage errors exit 2: no -config, an unknown subcommand', async () => {
  const [noConfig, unknown] = await Promise.all([runTool(['registry', 'list']), runTool(['registry', 'purge', '-config', configFile])]);
  expect(noConfig.code).toBe(2);
  expect(noConfig.stderr).toMatch(/^jwtproxy registry: -config is required .*\nusage: jwtproxy registry <command> -config FILE\n/);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/^error: unknown command "purge"\nusage: jwtproxy registry/);
});
