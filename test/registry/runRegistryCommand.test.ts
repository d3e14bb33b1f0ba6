// `jwtproxy registry list|approve|revoke`: straight on file and Redis storage, through the admin
// API for memory storage.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runRegistryCommand } from '../../src/registry/runRegistryCommand';
import { RedisServer } from '../support/redisServer';
import { getKey, newPublisher, putKey, registryConfig, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';
import type { KeyRegistryConfig } from '../../src/registry/registryConfig';

let alice: Publisher;
let bob: Publisher;
let directory: string;
let clock: TestClock;

beforeAll(async () => {
  [alice, bob] = await Promise.all([newPublisher('alice-key'), newPublisher('bob-key=')]);
});

beforeEach(async () => {
  clock = new TestClock();
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-cli-'));
});

afterEach(async () => {
  await fs.rm(directory, { recursive: true, force: true });
});

async function run(args: string[], config: KeyRegistryConfig): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runRegistryCommand(args, config, (line) => lines.push(line), { clock: clock.clock });
  return { code, lines };
}

describe('with file storage', () => {
  let config: KeyRegistryConfig;
  let registry: Awaited<ReturnType<typeof startRegistry>>;

  beforeEach(async () => {
    config = registryConfig({ storage: { type: 'file', path: path.join(directory, 'keys.json') } });
    registry = await startRegistry(config, clock);
    await putKey(registry, clock, alice);
    await putKey(registry, clock, bob);
  });

  afterEach(async () => {
    await registry.stopAll();
  });

  test('list prints a header and one line per key', async () => {
    const { code, lines } = await run(['list'], config);
    expect(code).toBe(0);
    expect(lines).toEqual([
      'SERVICE\tKID\tSTATE\tEXPIRES\tCREATED\tREVOKE_AT',
      `${SERVICE}\talice-key\tpending\t2026-11-22T16:24:23.000Z\t2026-11-22T15:24:23.000Z\t-`,
      `${SERVICE}\tbob-key=\tpending\t2026-11-22T16:24:23.000Z\t2026-11-22T15:24:23.000Z\t-`,
    ]);
  });

  test('list --state filters by state', async () => {
    await registry.registry.approve(SERVICE, alice.kid);
    const { lines } = await run(['list', SERVICE, '--state', 'pending'], config);
    expect(lines.slice(1).map((line) => line.split('\t')[1])).toEqual(['bob-key=']);
  });

  test('approve is seen by the running registry at once', async () => {
    const { code, lines } = await run(['approve', SERVICE, 'bob-key='], config);
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^approved: myservice\tbob-key=\tapproved\t/);
    expect((await getKey(registry, bob.kid)).status).toBe(200);
  });

  test('revoke is seen by the running registry at once', async () => {
    await registry.registry.approve(SERVICE, alice.kid);
    expect((await run(['revoke', SERVICE, alice.kid], config)).code).toBe(0);
    expect((await getKey(registry, alice.kid)).status).toBe(404);
  });

  test('approving an unknown key fails with exit code 1', async () => {
    const { code, lines } = await run(['approve', SERVICE, 'nope'], config);
    expect(code).toBe(1);
    expect(lines).toEqual([`error: no key ${SERVICE}/"nope"`]);
  });
});

test('works on Redis storage without a running registry', async () => {
  const redis = await RedisServer.start();
  try {
    const config = registryConfig({ storage: { type: 'redis', url: redis.url, db: 0, keyPrefix: 'cli:', acceptEvictingPolicy: false } });
    const registry = await startRegistry(config, clock);
    await putKey(registry, clock, alice);
    await registry.stopAll();
    expect((await run(['approve', SERVICE, alice.kid], config)).code).toBe(0);
    expect((await run(['list', '--state=approved'], config)).lines).toHaveLength(2);
  } finally {
    await redis.kill();
  }
});

test('with memory storage, goes through the admin API', async () => {
  const config = registryConfig({ admin: { enabled: true, listenAddr: '127.0.0.1:0', token: 'tok' } });
  const registry = await startRegistry(config, clock);
  try {
    await putKey(registry, clock, alice);
    const viaAdmin = { ...config, admin: { ...config.admin, listenAddr: registry.adminAddress()!.host } };
    expect((await run(['approve', SERVICE, alice.kid], viaAdmin)).code).toBe(0);
    expect((await getKey(registry, alice.kid)).status).toBe(200);
    expect((await run(['list'], viaAdmin)).lines[1]).toMatch(/\talice-key\tapproved\t/);
  } finally {
    await registry.stopAll();
  }
});

test('with memory storage, a wrong admin token fails with the reason', async () => {
  const config = registryConfig({ admin: { enabled: true, listenAddr: '127.0.0.1:0', token: 'tok' } });
  const registry = await startRegistry(config, clock);
  try {
    const viaAdmin = { ...config, admin: { ...config.admin, listenAddr: registry.adminAddress()!.host, token: 'wrong' } };
    const { code, lines } = await run(['list'], viaAdmin);
    expect(code).toBe(1);
    expect(lines[0]).toContain('Authorization: Bearer <admin token>');
  } finally {
    await registry.stopAll();
  }
});

test('with memory storage and no admin API, refuses and says why', async () => {
  const { code, lines } = await run(['list'], registryConfig());
  expect(code).toBe(1);
  expect(lines[0]).toContain('enable key_registry.admin');
});

test('with memory storage and the registry down, says it cannot reach it', async () => {
  const config = registryConfig({ admin: { enabled: true, listenAddr: `unix:${path.join(directory, 'absent.sock')}` } });
  const { code, lines } = await run(['list'], config);
  expect(code).toBe(1);
  expect(lines[0]).toContain('is the registry running?');
});

test('an unknown command prints the usage with exit code 2', async () => {
  const { code, lines } = await run(['publish'], registryConfig());
  expect(code).toBe(2);
  expect(lines[0]).toBe('error: unknown command "publish"');
  expect(lines[1]).toMatch(/^usage: jwtproxy registry/);
});

test('help prints the usage with exit code 0', async () => {
  const { code, lines } = await run(['--help'], registryConfig());
  expect(code).toBe(0);
  expect(lines[0]).toMatch(/^usage: jwtproxy registry/);
});

test('approve without a kid is a usage error', async () => {
  expect((await run(['approve', SERVICE], registryConfig())).code).toBe(2);
});

test('an unknown --state is a usage error', async () => {
  expect((await run(['list', '--state', 'lost'], registryConfig())).code).toBe(2);
});
