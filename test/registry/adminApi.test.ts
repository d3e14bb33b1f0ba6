// The admin API for manual approval: off by default, list/approve/revoke, optional bearer token.
import { httpRequest } from '../support/httpRequest';
import { getKey, newPublisher, putKey, registryConfig, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

const TOKEN = 's3cret-admin-token';
let clock: TestClock;
let registry: Registry;
let alice: Publisher;
let bob: Publisher;

beforeAll(async () => {
  [alice, bob] = await Promise.all([newPublisher('alice-key'), newPublisher('bob-key')]);
});

beforeEach(async () => {
  clock = new TestClock();
  registry = await startRegistry(registryConfig({ admin: { enabled: true, listenAddr: '127.0.0.1:0', token: TOKEN } }), clock);
});

afterEach(async () => {
  await registry.stopAll();
});

const admin = (path: string, options: { method?: string; token?: string | null } = {}) =>
  httpRequest(`${registry.adminAddress()!.origin}${path}`, {
    method: options.method ?? 'GET',
    headers: options.token === null ? {} : { authorization: `Bearer ${options.token ?? TOKEN}` },
  });

test('the admin API is off unless enabled', async () => {
  const plain = await startRegistry(registryConfig(), clock);
  expect(plain.adminAddress()).toBeUndefined();
  await plain.stopAll();
});

test('lists pending keys', async () => {
  await putKey(registry, clock, alice);
  await putKey(registry, clock, bob);
  await registry.registry.approve(SERVICE, bob.kid);
  const answer = await admin('/keys?state=pending');
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body).keys).toEqual([
    expect.objectContaining({ service: SERVICE, kid: alice.kid, state: 'pending', jwk: alice.jwk, createdAt: clock.nowMs, expiresAt: clock.nowMs + 3_600_000 }),
  ]);
});

test('lists the keys of one service', async () => {
  await putKey(registry, clock, alice);
  expect(JSON.parse((await admin('/keys?service=otherservice')).body).keys).toEqual([]);
  expect(JSON.parse((await admin(`/keys?service=${SERVICE}`)).body).keys).toHaveLength(1);
});

test('an unknown state filter is 400', async () => {
  expect((await admin('/keys?state=lost')).status).toBe(400);
});

test('approving a pending key makes it served', async () => {
  await putKey(registry, clock, alice);
  const answer = await admin(`/services/${SERVICE}/keys/${alice.kid}/approve`, { method: 'POST' });
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body)).toMatchObject({ kid: alice.kid, state: 'approved', approvedAt: clock.nowMs });
  expect((await getKey(registry, alice.kid)).status).toBe(200);
});

test('approving a padded kid works percent-encoded', async () => {
  const padded = await newPublisher('qz0TZV5TVcz5TebpGe8LqbZ_hPSdIuWvH-kbVvg2tq4=');
  await putKey(registry, clock, padded);
  expect((await admin(`/services/${SERVICE}/keys/${encodeURIComponent(padded.kid)}/approve`, { method: 'POST' })).status).toBe(200);
});

test('revoking a key stops it being served at once', async () => {
  await putKey(registry, clock, alice);
  await registry.registry.approve(SERVICE, alice.kid);
  const answer = await admin(`/services/${SERVICE}/keys/${alice.kid}/revoke`, { method: 'POST' });
  expect(JSON.parse(answer.body)).toMatchObject({ state: 'revoked', revokeAt: clock.nowMs });
  expect((await getKey(registry, alice.kid)).status).toBe(404);
});

test('approving an unknown key is 404', async () => {
  const answer = await admin(`/services/${SERVICE}/keys/nope/approve`, { method: 'POST' });
  expect(answer.status).toBe(404);
  expect(JSON.parse(answer.body).code).toBe('ERR_REGISTRY_KEY_NOT_FOUND');
});

test('approving a revoked key is 409', async () => {
  await putKey(registry, clock, alice);
  await registry.registry.revoke(SERVICE, alice.kid);
  expect((await admin(`/services/${SERVICE}/keys/${alice.kid}/approve`, { method: 'POST' })).status).toBe(409);
});

test('approving an expired key is 409', async () => {
  await putKey(registry, clock, alice);
  clock.advance(3_600_000);
  expect((await admin(`/services/${SERVICE}/keys/${alice.kid}/approve`, { method: 'POST' })).status).toBe(409);
});

test('approve needs POST', async () => {
  const answer = await admin(`/services/${SERVICE}/keys/${alice.kid}/approve`);
  expect(answer.status).toBe(405);
  expect(answer.headers.allow).toBe('POST');
});

test('a request without the admin token is 401', async () => {
  await putKey(registry, clock, alice);
  const answer = await admin(`/services/${SERVICE}/keys/${alice.kid}/approve`, { method: 'POST', token: null });
  expect(answer.status).toBe(401);
  expect((await getKey(registry, alice.kid)).status).toBe(409);
});

test('a request with a wrong admin token is 401', async () => {
  expect((await admin('/keys', { token: 'guess' })).status).toBe(401);
});

test('the protocol listener does not serve the admin routes', async () => {
  await putKey(registry, clock, alice);
  const answer = await httpRequest(`${registry.address().origin}/services/${SERVICE}/keys/${alice.kid}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(answer.status).toBe(404);
});
