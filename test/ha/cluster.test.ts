// A real 6-node Redis Cluster (3 masters, 3 replicas): the nonce store claims exactly once through a
// master killed under load, and the key registry's storage works there (hash-tagged keys, no CROSSSLOT).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisNonceStore, type RedisNonceStorageConfig } from '../../src/nonce/RedisNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { KeyRegistry, registryPolicy, type OfferedKey } from '../../src/registry/KeyRegistry';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { eventually } from '../support/eventually';
import { RedisServer } from '../support/redisServer';
import { newPublisher, registryConfig, TestClock } from '../registry/registryTestKit';
import { ClaimLedger } from './claimLedger';

jest.setTimeout(120_000);

let folder: string;
const nodes: RedisServer[] = [];
const stores: RedisNonceStore[] = [];

const clusterInfo = async (port: number): Promise<string> => {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    return String(await client.call('CLUSTER', 'INFO'));
  } catch {
    return '';
  } finally {
    client.disconnect();
  }
};

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-ha-cluster-'));
  for (let i = 0; i < 6; i++) {
    const dir = path.join(folder, `node${i}`);
    fs.mkdirSync(dir);
    nodes.push(
      await RedisServer.start(['--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '1000', '--repl-diskless-sync-delay', '0']),
    );
  }
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes']);
  for (const node of nodes) await eventually(async () => /cluster_state:ok/.test(await clusterInfo(node.port)), 'the cluster is ok', 30_000, 100);
});

afterAll(async () => {
  await Promise.all(stores.map((store) => store.stop()));
  await Promise.all(nodes.map((node) => node.kill()));
  fs.rmSync(folder, { recursive: true, force: true });
});

async function instance(): Promise<RedisNonceStore> {
  const config: RedisNonceStorageConfig = {
    type: 'redis',
    clusterNodes: nodes.slice(0, 3).map((node) => ({ host: '127.0.0.1', port: node.port })),
    db: 0,
    keyPrefix: 'ha:nonce:',
    connectTimeoutMs: 2000,
    commandTimeoutMs: 1000,
    waitReplicas: 1,
    waitTimeoutMs: 100,
    acceptEvictingPolicy: false,
  };
  const store = new RedisNonceStore(config, silentLogger);
  stores.push(store);
  await store.start();
  return store;
}

test('the key registry storage works on a Cluster with its hash-tagged prefix, and approves one first key of two', async () => {
  const clusterNodes = [{ host: '127.0.0.1', port: nodes[0].port }];
  const handles = [0, 1].map(() => new RedisKeyStorage({ clusterNodes, db: 0 }, '{jwtproxy:registry}:', silentLogger));
  await Promise.all(handles.map((storage) => storage.start()));
  const clock = new TestClock();
  const publishers = await Promise.all([newPublisher('one'), newPublisher('two')]);
  const registries = handles.map((storage) => new KeyRegistry(registryPolicy(registryConfig({ approval: 'auto' })), { storage, clock: clock.clock, logger: silentLogger }));
  const offer = (index: number): OfferedKey => ({
    service: 'clustered',
    kid: publishers[index].kid,
    jwk: publishers[index].jwk as OfferedKey['jwk'],
    expiresAt: clock.nowMs + 3_600_000,
    rotationSeconds: 1800,
  });
  const states = await Promise.all(registries.map((registry, index) => registry.publish(offer(index))));
  expect(states.sort()).toEqual(['approved', 'pending']);
  expect(await handles[1].list()).toHaveLength(2);
  await Promise.all(handles.map((storage) => storage.stop()));
});

test('claims exactly once through a master killed under load, and resume by themselves', async () => {
  const instances = [await instance(), await instance(), await instance()];
  const ledger = new ClaimLedger('cluster');
  let done = false;
  const load = ledger.load(instances, () => done);
  await new Promise((resolve) => setTimeout(resolve, 500));
  // The node we ask about the cluster; it stays up.
  const survivor = nodes[5];
  const admin = new Redis(survivor.port, '127.0.0.1');
  // CLUSTER NODES: <id> <ip:port@cport> <flags> …; the victim is a master other than the survivor.
  const masters = String(await admin.call('CLUSTER', 'NODES'))
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2]?.split(',').includes('master'))
    .map((fields) => Number(/:(\d+)@/.exec(fields[1])![1]));
  admin.disconnect();
  const masterPort = masters.find((port) => port !== survivor.port)!;
  const victim = nodes.find((node) => node.port === masterPort)!;
  await victim.kill();
  await eventually(async () => /cluster_state:fail/.test(await clusterInfo(survivor.port)), 'the cluster sees the master fail', 30_000, 100);
  await eventually(async () => /cluster_state:ok/.test(await clusterInfo(survivor.port)), 'the cluster fails over', 30_000, 100);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  done = true;
  await load;
  await eventually(async () => (await ledger.claimEverywhere(instances, ledger.nextJti())) === 1, 'claims are accepted again', 30_000, 100);
  const jtis = [...ledger.accepted.keys()];
  for (let i = 0; i < jtis.length; i += 200) await Promise.all(jtis.slice(i, i + 200).map((jti, index) => ledger.claimEverywhere([instances[index % 3]], jti)));
  expect(ledger.replays()).toEqual([]);
});
