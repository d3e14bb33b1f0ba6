// The registry's rules without HTTP: each state change logged once at info, the sweep, tombstones.
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger';
import { KeyRegistry, registryPolicy, TOMBSTONE_RETENTION_MS, type OfferedKey } from '../../src/registry/KeyRegistry';
import { MemoryKeyStorage } from '../../src/registry/MemoryKeyStorage';
import { newPublisher, registryConfig, SERVICE, TestClock, type Publisher } from './registryTestKit';

const PENDING_TTL_MS = 2 * 3_600_000;

let first: Publisher;
let second: Publisher;
let clock: TestClock;
let storage: MemoryKeyStorage;
let logs: { level: string; msg: string; kid?: string }[];
let registry: KeyRegistry;

beforeAll(async () => {
  [first, second] = await Promise.all([newPublisher('first'), newPublisher('second')]);
});

beforeEach(() => {
  clock = new TestClock();
  storage = new MemoryKeyStorage();
  logs = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  registry = new KeyRegistry(registryPolicy(registryConfig({ rotationGraceMs: 60_000, pendingKeyTtlMs: PENDING_TTL_MS })), { storage, clock: clock.clock, logger: createLogger('info', destination) });
});

const offer = (publisher: Publisher, lifetimeMs = 3_600_000): OfferedKey => ({
  service: SERVICE,
  kid: publisher.kid,
  jwk: publisher.jwk as OfferedKey['jwk'],
  expiresAt: clock.nowMs + lifetimeMs,
  rotationSeconds: 1800,
});

const infoMessages = () => logs.filter((line) => line.level === 'info').map((line) => line.msg);

test('publishing logs the new key awaiting approval', async () => {
  expect(await registry.publish(offer(first))).toBe('pending');
  expect(infoMessages()).toEqual(['key published, awaiting approval']);
});

test('publishing the same key again logs nothing', async () => {
  await registry.publish(offer(first));
  await registry.publish(offer(first));
  expect(infoMessages()).toHaveLength(1);
});

test('approving logs once', async () => {
  await registry.publish(offer(first));
  await registry.approve(SERVICE, first.kid);
  await registry.approve(SERVICE, first.kid);
  expect(infoMessages()).toEqual(['key published, awaiting approval', 'key approved']);
});

test('a rotation logs the new key and when the old one goes', async () => {
  await registry.publish(offer(first));
  await registry.approve(SERVICE, first.kid);
  await registry.rotate(first.kid, offer(second));
  const rotated = logs.at(-1) as unknown as Record<string, unknown>;
  expect(rotated).toMatchObject({
    msg: 'key rotated: new key approved, previous key revoked after the grace period',
    kid: 'second',
    previousKid: 'first',
    previousRevokeAt: new Date(clock.nowMs + 60_000).toISOString(),
  });
});

test('the sweep logs an expiry once, and keeps the expired key as a tombstone', async () => {
  await registry.publish(offer(first, 1000));
  await registry.approve(SERVICE, first.kid);
  clock.advance(1000);
  await registry.sweep();
  await registry.sweep();
  expect(infoMessages()).toEqual(['key published, awaiting approval', 'key approved', 'key expired']);
  expect((await storage.get(SERVICE, first.kid))!.state).toBe('expired');
});

test('the sweep removes a key that expired before it was approved, logging the expiry once: no tombstone', async () => {
  await registry.publish(offer(first, 1000));
  clock.advance(1000);
  await registry.sweep();
  await registry.sweep();
  expect(infoMessages()).toEqual(['key published, awaiting approval', 'key expired']);
  expect(await storage.get(SERVICE, first.kid)).toBeUndefined();
});

test('the sweep removes a key revoked before it was approved', async () => {
  await registry.publish(offer(first));
  await registry.revoke(SERVICE, first.kid);
  await registry.sweep();
  expect(await storage.get(SERVICE, first.kid)).toBeUndefined();
});

test('the sweep drops a key not approved within pending_key_ttl, logging it once', async () => {
  await registry.publish(offer(first, 10 * PENDING_TTL_MS));
  clock.advance(PENDING_TTL_MS - 1);
  await registry.sweep();
  expect(await storage.get(SERVICE, first.kid)).toBeDefined();
  clock.advance(1);
  await registry.sweep();
  await registry.sweep();
  expect(infoMessages()).toEqual(['key published, awaiting approval', 'key dropped: it was not approved within pending_key_ttl']);
  expect(await storage.get(SERVICE, first.kid)).toBeUndefined();
});

test('the sweep logs the end of a rotation grace as a revocation', async () => {
  await registry.publish(offer(first));
  await registry.approve(SERVICE, first.kid);
  await registry.rotate(first.kid, offer(second));
  clock.advance(60_000);
  await registry.sweep();
  expect(infoMessages().at(-1)).toBe('key revoked: its rotation grace period is over');
  expect((await storage.get(SERVICE, first.kid))!.state).toBe('revoked');
});

test('the sweep keeps a revoked key as a tombstone for the retention, then purges it', async () => {
  await registry.publish(offer(first));
  await registry.approve(SERVICE, first.kid);
  await registry.revoke(SERVICE, first.kid);
  clock.advance(TOMBSTONE_RETENTION_MS - 1);
  await registry.sweep();
  expect(await storage.get(SERVICE, first.kid)).toBeDefined();
  clock.advance(1);
  await registry.sweep();
  expect(await storage.get(SERVICE, first.kid)).toBeUndefined();
});

test('a service reaching max_pending_keys_per_service is logged once, not at every refused key', async () => {
  const capped = new KeyRegistry(registryPolicy(registryConfig({ maxPendingKeysPerService: 1 })), {
    storage,
    clock: clock.clock,
    logger: createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => (logs.push(JSON.parse(chunk.toString())), done()) })),
  });
  await capped.publish(offer(first));
  const refused = await Promise.all(Array.from({ length: 5 }, (_, i) => newPublisher(`refused-${i}`)));
  for (const publisher of refused) await expect(capped.publish(offer(publisher))).rejects.toMatchObject({ code: 'ERR_REGISTRY_TOO_MANY_PENDING' });
  expect(logs.filter((line) => ['warn', 'error', 'fatal'].includes(line.level)).map((line) => line.msg)).toEqual([
    'a service has max_pending_keys_per_service keys awaiting approval: more are refused (429) until some are approved, revoked or dropped',
  ]);
  // Once it has room again and fills up anew, it is logged again.
  await capped.revoke(SERVICE, first.kid);
  await capped.publish(offer(second));
  await expect(capped.publish(offer(refused[0]))).rejects.toMatchObject({ code: 'ERR_REGISTRY_TOO_MANY_PENDING' });
  expect(logs.filter((line) => ['warn', 'error', 'fatal'].includes(line.level))).toHaveLength(2);
});

test('a key without expiration never expires', async () => {
  await registry.publish({ ...offer(first), expiresAt: null });
  await registry.approve(SERVICE, first.kid);
  clock.advance(10 * 365 * 86_400_000);
  await registry.sweep();
  expect((await registry.servedKey(SERVICE, first.kid)).maxAgeSeconds).toBe(86_400);
});

test('list reports the state as of now, before any sweep', async () => {
  await registry.publish(offer(first, 1000));
  clock.advance(1000);
  expect((await registry.list())[0].state).toBe('expired');
});
