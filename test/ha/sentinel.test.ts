// Exactly-once claims through real Sentinel failovers: a planned switchover under load, and a master
// killed (kill -9) while its replication links are frozen. Slow: run by `npm run test:ha`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { RedisNonceStore, type RedisNonceStorageConfig } from '../../src/nonce/RedisNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { eventually } from '../support/eventually';
import { ClaimLedger } from './claimLedger';
import { MASTER_NAME, SENTINEL_PASSWORD, SentinelSet, USER, USER_PASSWORD } from './sentinelSet';

jest.setTimeout(120_000);

let folder: string;
let set: SentinelSet;
const stores: RedisNonceStore[] = [];

beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jwtproxy-ha-sentinel-'));
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.stop()));
  await set?.stop();
  fs.rmSync(folder, { recursive: true, force: true });
});

/** A verifier instance's store, as the config's defaults make it for Sentinels (wait_replicas: 1). */
async function instance(waitReplicas = 1): Promise<RedisNonceStore> {
  const config: RedisNonceStorageConfig = {
    type: 'redis',
    sentinels: set.sentinelAddresses,
    sentinelName: MASTER_NAME,
    sentinelPassword: SENTINEL_PASSWORD,
    username: USER,
    password: USER_PASSWORD,
    db: 0,
    keyPrefix: 'ha:nonce:',
    connectTimeoutMs: 2000,
    commandTimeoutMs: 1000,
    waitReplicas,
    waitTimeoutMs: 100,
    acceptEvictingPolicy: false,
  };
  const store = new RedisNonceStore(config, silentLogger);
  stores.push(store);
  await store.start();
  return store;
}

async function role(port: number): Promise<string> {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    return /role:(\w+)/.exec(await client.info('replication'))?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    client.disconnect();
  }
}

async function recovered(ledger: ClaimLedger, instances: RedisNonceStore[]): Promise<void> {
  await eventually(async () => (await ledger.claimEverywhere(instances, ledger.nextJti())) === 1, 'claims are accepted again', 30_000, 100);
}

async function replayAll(ledger: ClaimLedger, instances: RedisNonceStore[]): Promise<void> {
  const jtis = [...ledger.accepted.keys()];
  for (let i = 0; i < jtis.length; i += 200) {
    await Promise.all(jtis.slice(i, i + 200).map((jti, index) => ledger.claimEverywhere([instances[index % instances.length]], jti)));
  }
}

// wait_replicas equal to the number of replicas: whichever replica Sentinel promotes holds every
// acknowledged claim, and the old master, whose replica has left it, can acknowledge none.
test('a planned switchover (SENTINEL FAILOVER) of a master and its replica under load accepts no token twice, and claims resume by themselves', async () => {
  set = await SentinelSet.start(folder, { replicas: 1, viaRelay: false });
  const instances = [await instance(), await instance(), await instance()];
  const ledger = new ClaimLedger('switchover');
  const oldMaster = set.master.port;
  let done = false;
  const load = ledger.load(instances, () => done);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = ledger.accepted.size;
  const sentinel = set.sentinelClient();
  await sentinel.call('SENTINEL', 'FAILOVER', MASTER_NAME);
  sentinel.disconnect();
  await eventually(async () => (await set.announcedMasterPort()) !== oldMaster, 'the sentinels announce the new master', 20_000, 100);
  // The window that lost nonces: until Sentinel demotes the old master, it still takes writes.
  await eventually(async () => (await role(oldMaster)) === 'slave', 'the old master is demoted', 30_000, 200);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  done = true;
  await load;
  await recovered(ledger, instances);
  expect(before).toBeGreaterThan(0);
  expect(ledger.accepted.size).toBeGreaterThan(before);
  await replayAll(ledger, instances);
  expect(ledger.replays()).toEqual([]);
});

// wait_replicas: 1 of 2 replicas: the survivors keep acknowledging, so claims resume without the dead master.
test('a master killed (kill -9) while its replication links are frozen loses no acknowledged claim; without wait_replicas it would', async () => {
  set = await SentinelSet.start(folder, { replicas: 2, viaRelay: true });
  const instances = [await instance(), await instance(), await instance()];
  const unacknowledged = await instance(0);
  const ledger = new ClaimLedger('killed');
  const control = new ClaimLedger('control');
  for (let i = 0; i < 200; i++) await ledger.claimEverywhere(instances, ledger.nextJti());
  expect(ledger.accepted.size).toBe(200);

  for (const relay of set.relays) relay.freeze();
  const refusedBefore = ledger.refused;
  const frozenAccepted = await Promise.all(Array.from({ length: 20 }, () => ledger.claimEverywhere(instances, ledger.nextJti())));
  expect(frozenAccepted.every((accepted) => accepted === 0)).toBe(true);
  expect(ledger.refused - refusedBefore).toBe(60);
  for (let i = 0; i < 50; i++) await control.claimEverywhere([unacknowledged], control.nextJti());
  expect(control.accepted.size).toBe(50);

  const oldMaster = set.master.port;
  await set.master.kill();
  await eventually(async () => (await set.announcedMasterPort()) !== oldMaster, 'the sentinels promote a replica', 30_000, 100);
  await recovered(ledger, instances);
  await replayAll(ledger, instances);
  expect(ledger.replays()).toEqual([]);
  // The same scenario without acknowledgement: claims the master answered, but never replicated, are gone.
  await eventually(async () => (await control.claimEverywhere([unacknowledged], control.nextJti())) === 1, 'the unacknowledged store reconnects', 20_000, 100);
  await replayAll(control, [unacknowledged]);
  expect(control.replays().length).toBeGreaterThan(0);
});
