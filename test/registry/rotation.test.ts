// Rotation: a new key signed by the active one is approved at once; the old key is served
// for the rotation grace, then revoked.
import { getKey, newPublisher, putKey, registryConfig, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

const GRACE_MS = 60_000;
let clock: TestClock;
let registry: Registry;
let first: Publisher;
let second: Publisher;
let third: Publisher;

beforeAll(async () => {
  [first, second, third] = await Promise.all([newPublisher('first'), newPublisher('second'), newPublisher('third')]);
});

beforeEach(async () => {
  clock = new TestClock();
  registry = await startRegistry(registryConfig({ rotationGraceMs: GRACE_MS }), clock);
  expect((await putKey(registry, clock, first)).status).toBe(202);
  await registry.registry.approve(SERVICE, first.kid);
});

afterEach(async () => {
  await registry.stopAll();
});

test('a key signed by the active key is approved at once: 200', async () => {
  expect((await putKey(registry, clock, second, first)).status).toBe(200);
  expect((await getKey(registry, second.kid)).status).toBe(200);
});

test('the previous key is still served during the grace, with a max-age ending with it', async () => {
  await putKey(registry, clock, second, first);
  clock.advance(20_000);
  const answer = await getKey(registry, first.kid);
  expect(answer.status).toBe(200);
  expect(answer.headers['cache-control']).toBe('max-age=40');
});

test('the previous key is revoked once the grace is over', async () => {
  await putKey(registry, clock, second, first);
  clock.advance(GRACE_MS);
  expect((await getKey(registry, first.kid)).status).toBe(404);
});

test('the new key can rotate in turn', async () => {
  await putKey(registry, clock, second, first);
  clock.advance(10_000);
  expect((await putKey(registry, clock, third, second)).status).toBe(200);
  expect((await getKey(registry, third.kid)).status).toBe(200);
});

test('signing a second rotation does not extend the grace of the signer', async () => {
  await putKey(registry, clock, second, first);
  clock.advance(30_000);
  await putKey(registry, clock, third, first);
  clock.advance(30_000);
  expect((await getKey(registry, first.kid)).status).toBe(404);
});

test('a rotation to a key awaiting approval approves it', async () => {
  await putKey(registry, clock, second);
  expect((await putKey(registry, clock, second, first)).status).toBe(200);
  expect((await getKey(registry, second.kid)).status).toBe(200);
});

test('a refused rotation leaves the signer untouched', async () => {
  await putKey(registry, clock, second);
  const impostor = { ...third, kid: second.kid, jwk: { ...third.jwk, kid: second.kid } };
  const answer = await putKey(registry, clock, impostor, first);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain('already registered with another key');
  const [signer] = await registry.registry.list({ service: SERVICE, state: 'approved' });
  expect(signer).toMatchObject({ kid: first.kid, revokeAt: null });
});

test('a rotation to a revoked kid is refused', async () => {
  await putKey(registry, clock, second);
  await registry.registry.revoke(SERVICE, second.kid);
  expect((await putKey(registry, clock, second, first)).status).toBe(403);
});

test('a key revoked by the grace cannot sign a rotation', async () => {
  await putKey(registry, clock, second, first);
  clock.advance(GRACE_MS);
  expect((await putKey(registry, clock, third, first)).status).toBe(403);
});

test('a rotation with no grace revokes the signer at once', async () => {
  await registry.stopAll();
  registry = await startRegistry(registryConfig({ rotationGraceMs: 0 }), clock);
  await putKey(registry, clock, first);
  await registry.registry.approve(SERVICE, first.kid);
  expect((await putKey(registry, clock, second, first)).status).toBe(200);
  expect((await getKey(registry, first.kid)).status).toBe(404);
});
