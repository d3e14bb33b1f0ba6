// The JWT of a PUT or DELETE is checked in full: signature by the right key, iss, aud, times, single use.
import { signToken } from '../../src/jwt/token';
import { encodeBase64url } from '../../src/jwt/base64url';
import { httpRequest } from '../support/httpRequest';
import { keyUrl, newPublisher, putKey, registryConfig, requestToken, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

let clock: TestClock;
let registry: Registry;
let alice: Publisher;
let mallory: Publisher;

beforeAll(async () => {
  [alice, mallory] = await Promise.all([newPublisher('alice-key'), newPublisher('mallory-key')]);
});

beforeEach(async () => {
  clock = new TestClock();
  registry = await startRegistry(registryConfig(), clock);
});

afterEach(async () => {
  await registry.stopAll();
});

function putWithToken(token: string, publisher = alice) {
  return httpRequest(keyUrl(registry, publisher.kid, SERVICE, `?expiration=${clock.nowMs / 1000 + 3600}`), {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(publisher.jwk),
  });
}

const audience = () => registry.address().origin;

test('a self-signed PUT with a valid token is accepted', async () => {
  expect((await putWithToken(await requestToken(alice, audience(), clock.nowMs))).status).toBe(202);
});

test('a token naming the new kid but signed by another key is refused', async () => {
  const forged = await requestToken(mallory, audience(), clock.nowMs, {}, alice.kid);
  const answer = await putWithToken(forged);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain('Invalid JWT signature');
});

test('a rotation token naming an approved key but signed by another key is refused', async () => {
  await putKey(registry, clock, alice);
  await registry.registry.approve(SERVICE, alice.kid);
  const forged = await requestToken(mallory, audience(), clock.nowMs, {}, alice.kid);
  expect((await putWithToken(forged, mallory)).status).toBe(403);
});

test('a token whose alg is not the one of the key is refused', async () => {
  const header = encodeBase64url(JSON.stringify({ alg: 'none', kid: alice.kid, typ: 'JWT' }));
  const valid = await requestToken(alice, audience(), clock.nowMs);
  const [, payload, signature] = valid.split('.');
  const answer = await putWithToken(`${header}.${payload}.${signature}`);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain('Invalid JWT signature');
});

test('an expired token is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs - 400_000);
  const answer = await putWithToken(token);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain("'exp'");
});

test('a token not valid yet (nbf in the future) is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs, { nbf: clock.nowMs / 1000 + 30 });
  expect((await putWithToken(token)).body).toContain("'nbf'");
});

test('a token issued too far in the future is refused', async () => {
  const iat = clock.nowMs / 1000 + 120;
  const token = await requestToken(alice, audience(), clock.nowMs, { iat, exp: iat + 300 });
  expect((await putWithToken(token)).body).toContain("'iat'");
});

test('a token living longer than an hour is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs, { exp: clock.nowMs / 1000 + 7200 });
  expect((await putWithToken(token)).body).toContain('too long');
});

test('a token for another audience is refused', async () => {
  const token = await requestToken(alice, 'http://other.example:8080', clock.nowMs);
  const answer = await putWithToken(token);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain("'aud'");
});

test('a token whose aud carries a path is compared on scheme://host:port only', async () => {
  const token = await requestToken(alice, `${audience()}/some/path`, clock.nowMs);
  expect((await putWithToken(token)).status).toBe(202);
});

test('with key_registry.audience set, the Host header does not decide the audience', async () => {
  await registry.stopAll();
  registry = await startRegistry(registryConfig({ audience: new URL('https://registry.example') }), clock);
  expect((await putWithToken(await requestToken(alice, audience(), clock.nowMs))).status).toBe(403);
  expect((await putWithToken(await requestToken(alice, 'https://registry.example', clock.nowMs))).status).toBe(202);
});

test('a token issued by another service is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs, { iss: 'otherservice' });
  const answer = await putWithToken(token);
  expect(answer.status).toBe(403);
  expect(answer.body).toContain("'iss'");
});

test('a token without jti is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs, { jti: undefined });
  expect((await putWithToken(token)).body).toContain("'jti'");
});

test('a replayed token is refused', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs);
  expect((await putWithToken(token)).status).toBe(202);
  const replay = await putWithToken(token);
  expect(replay.status).toBe(403);
  expect(replay.body).toContain('already used');
});

test('a token spent on a PUT cannot be replayed for a DELETE', async () => {
  const token = await requestToken(alice, audience(), clock.nowMs);
  expect((await putWithToken(token)).status).toBe(202);
  const replay = await httpRequest(keyUrl(registry, alice.kid), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  expect(replay.status).toBe(403);
  expect(replay.body).toContain('already used');
});

test('a token that is not a JWS is 400', async () => {
  expect((await putWithToken('not-a-token')).status).toBe(400);
});

test('a token without kid is 400', async () => {
  const token = await signToken(alice.algorithm, alice.privateKey, undefined as unknown as string, { iss: SERVICE });
  expect((await putWithToken(token)).status).toBe(400);
});
