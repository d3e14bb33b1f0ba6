// The registry protocol over real HTTP on loopback: every status code each route gives.
import { generateKeyPairSync } from 'node:crypto';
import { httpRequest, type Answer } from '../support/httpRequest';
import { deleteKey, getKey, keyUrl, newPublisher, putKey, registryConfig, requestToken, SERVICE, startRegistry, TestClock, type Publisher } from './registryTestKit';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

let clock: TestClock;
let registry: Registry;
let alice: Publisher;
let bob: Publisher;

beforeAll(async () => {
  [alice, bob] = await Promise.all([newPublisher('alice-key'), newPublisher('bob-key')]);
});

beforeEach(async () => {
  clock = new TestClock();
  registry = await startRegistry(registryConfig(), clock);
});

afterEach(async () => {
  await registry.stopAll();
});

async function publishApproved(publisher: Publisher): Promise<void> {
  expect((await putKey(registry, clock, publisher)).status).toBe(202);
  await registry.registry.approve(SERVICE, publisher.kid);
}

describe('GET /services/<svc>/keys', () => {
  test('an unknown service has an empty key list', async () => {
    const answer = await httpRequest(`${registry.address().origin}/services/nobody/keys`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ keys: [] });
  });

  test('lists approved keys only', async () => {
    await publishApproved(alice);
    await putKey(registry, clock, bob);
    const answer = await httpRequest(`${registry.address().origin}/services/${SERVICE}/keys`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).keys).toEqual([alice.jwk]);
  });

  test('leaves out expired keys', async () => {
    await publishApproved(alice);
    clock.advance(3_600_000);
    const answer = await httpRequest(`${registry.address().origin}/services/${SERVICE}/keys`);
    expect(JSON.parse(answer.body).keys).toEqual([]);
  });

  test('a service name outside [a-z0-9_] is not found', async () => {
    expect((await httpRequest(`${registry.address().origin}/services/My-Service/keys`)).status).toBe(404);
  });

  test('serves under a path prefix, as a registry URL like http://host/keys/ needs', async () => {
    await publishApproved(alice);
    const answer = await httpRequest(`${registry.address().origin}/keys/services/${SERVICE}/keys/${alice.kid}`);
    expect(answer.status).toBe(200);
  });

  test('refuses other methods with 405', async () => {
    const answer = await httpRequest(`${registry.address().origin}/services/${SERVICE}/keys`, { method: 'POST' });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('GET, HEAD');
  });
});

describe('GET /services/<svc>/keys/<kid>', () => {
  test('an unknown kid is 404', async () => {
    expect((await getKey(registry, 'nope')).status).toBe(404);
  });

  test('a key awaiting approval is 409', async () => {
    await putKey(registry, clock, alice);
    expect((await getKey(registry, alice.kid)).status).toBe(409);
  });

  test('an approved key is 200 with its public JWK', async () => {
    await publishApproved(alice);
    const answer = await getKey(registry, alice.kid);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual(alice.jwk);
  });

  test('max-age is the time left until the key expires when that is shorter than max_cache_age', async () => {
    expect((await putKey(registry, clock, alice, alice, { expiresInS: 600 })).status).toBe(202);
    await registry.registry.approve(SERVICE, alice.kid);
    clock.advance(100_500);
    expect((await getKey(registry, alice.kid)).headers['cache-control']).toBe('max-age=499');
  });

  test('max-age is max_cache_age when the key expires later', async () => {
    await registry.stopAll();
    registry = await startRegistry(registryConfig({ maxCacheAgeMs: 120_000 }), clock);
    await publishApproved(alice);
    expect((await getKey(registry, alice.kid)).headers['cache-control']).toBe('max-age=120');
  });

  test('an expired key is 403', async () => {
    await publishApproved(alice);
    clock.advance(3_600_000);
    expect((await getKey(registry, alice.kid)).status).toBe(403);
  });

  test('a pending key that expired is 403', async () => {
    await putKey(registry, clock, alice);
    clock.advance(3_600_000);
    expect((await getKey(registry, alice.kid)).status).toBe(403);
  });

  test('a revoked key is 404', async () => {
    await publishApproved(alice);
    await registry.registry.revoke(SERVICE, alice.kid);
    expect((await getKey(registry, alice.kid)).status).toBe(404);
  });

  test('a kid with base64url padding travels percent-encoded', async () => {
    const padded = await newPublisher('1x2qGipqJe4rP0v7OKWC7AF6nSfNYUGZb-nyLyvCBGw=');
    await publishApproved(padded);
    const answer = await httpRequest(`${registry.address().origin}/services/${SERVICE}/keys/1x2qGipqJe4rP0v7OKWC7AF6nSfNYUGZb-nyLyvCBGw%3D`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).kid).toBe(padded.kid);
  });

  test('HEAD answers like GET without a body', async () => {
    await publishApproved(alice);
    const answer = await httpRequest(keyUrl(registry, alice.kid), { method: 'HEAD' });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('');
  });
});

describe('PUT /services/<svc>/keys/<kid>', () => {
  test('a new self-signed key awaits approval: 202', async () => {
    expect((await putKey(registry, clock, alice)).status).toBe(202);
  });

  test('a new self-signed key is approved at once under auto approval: 200', async () => {
    await registry.stopAll();
    registry = await startRegistry(registryConfig({ approval: 'auto' }), clock);
    expect((await putKey(registry, clock, alice)).status).toBe(200);
    expect((await getKey(registry, alice.kid)).status).toBe(200);
  });

  describe('under auto approval', () => {
    beforeEach(async () => {
      await registry.stopAll();
      registry = await startRegistry(registryConfig({ approval: 'auto' }), clock);
      expect((await putKey(registry, clock, alice)).status).toBe(200);
    });

    test('a new self-signed key for a service that has a key awaits approval: 202, so nobody can take over the service', async () => {
      expect((await putKey(registry, clock, bob)).status).toBe(202);
      expect((await getKey(registry, bob.kid)).status).toBe(409);
    });

    test('publishing that key again leaves it pending', async () => {
      await putKey(registry, clock, bob);
      expect((await putKey(registry, clock, bob)).status).toBe(202);
      expect((await getKey(registry, bob.kid)).status).toBe(409);
    });

    test('a key of a service whose keys all expired still awaits approval (their records are kept)', async () => {
      clock.advance(3_600_000);
      expect((await putKey(registry, clock, bob)).status).toBe(202);
    });

    test('a rotation signed by the approved key is approved: 200', async () => {
      expect((await putKey(registry, clock, bob, alice)).status).toBe(200);
      expect((await getKey(registry, bob.kid)).status).toBe(200);
    });

    test('the first key of another service is approved', async () => {
      const token = await requestToken(bob, registry.address().origin, clock.nowMs, { iss: 'otherservice' });
      const answer = await httpRequest(keyUrl(registry, bob.kid, 'otherservice'), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(bob.jwk) });
      expect(answer.status).toBe(200);
    });

    test('a service in auto_approve_services has every new self-signed key approved', async () => {
      await registry.stopAll();
      registry = await startRegistry(registryConfig({ approval: 'auto', autoApproveServices: [SERVICE] }), clock);
      expect((await putKey(registry, clock, alice)).status).toBe(200);
      expect((await putKey(registry, clock, bob)).status).toBe(200);
      expect((await getKey(registry, bob.kid)).status).toBe(200);
    });
  });

  test('publishing a pending key again is still 202', async () => {
    await putKey(registry, clock, alice);
    expect((await putKey(registry, clock, alice)).status).toBe(202);
  });

  test('publishing an approved key again is 200 and changes nothing', async () => {
    await publishApproved(alice);
    expect((await putKey(registry, clock, alice, alice, { expiresInS: 999_999 })).status).toBe(200);
    const [stored] = await registry.registry.list({ service: SERVICE });
    expect(stored.expiresAt).toBe(clock.nowMs + 3_600_000);
  });

  test('a kid already registered with another key is 403', async () => {
    await putKey(registry, clock, alice);
    const impostor = { ...bob, kid: alice.kid, jwk: { ...bob.jwk, kid: alice.kid } };
    expect((await putKey(registry, clock, impostor)).status).toBe(403);
  });

  test('a revoked key cannot be published again: 403', async () => {
    await publishApproved(alice);
    await registry.registry.revoke(SERVICE, alice.kid);
    expect((await putKey(registry, clock, alice)).status).toBe(403);
  });

  test('a key signed by an unknown kid is 403', async () => {
    expect((await putKey(registry, clock, alice, bob)).status).toBe(403);
  });

  test('a key signed by a key still awaiting approval is 403', async () => {
    await putKey(registry, clock, bob);
    expect((await putKey(registry, clock, alice, bob)).status).toBe(403);
  });

  test('a key signed by an expired key is 403', async () => {
    await publishApproved(bob);
    clock.advance(3_600_000);
    expect((await putKey(registry, clock, alice, bob)).status).toBe(403);
  });

  async function put(body: string, options: { kid?: string; query?: string; service?: string; token?: string | null } = {}): Promise<Answer> {
    const kid = options.kid ?? alice.kid;
    const token = options.token === undefined ? await requestToken(alice, registry.address().origin, clock.nowMs, {}, kid) : options.token;
    const url = keyUrl(registry, kid, options.service ?? SERVICE, options.query ?? `?expiration=${clock.nowMs / 1000 + 60}`);
    return httpRequest(url, { method: 'PUT', headers: token === null ? {} : { authorization: `Bearer ${token}` }, body });
  }

  test('a body that is not JSON is 400', async () => {
    expect(await put('{"kty":')).toMatchObject({ status: 400, body: expect.stringMatching(/not JSON/) });
  });

  test('a JWK whose kid is not the kid of the path is 400', async () => {
    expect(await put(JSON.stringify({ ...alice.jwk, kid: 'other' }))).toMatchObject({ status: 400, body: expect.stringMatching(/not the kid of the path/) });
  });

  test('a JWK without a kid takes the kid of the path', async () => {
    const { kid: _, ...withoutKid } = alice.jwk;
    expect((await put(JSON.stringify(withoutKid))).status).toBe(202);
    expect((await registry.registry.list())[0].jwk.kid).toBe(alice.kid);
  });

  test('a JWK carrying private members is 400', async () => {
    const privateJwk = alice.privateKey.export({ format: 'jwk' });
    expect(await put(JSON.stringify({ ...privateJwk, kid: alice.kid }))).toMatchObject({ status: 400, body: expect.stringMatching(/private key members \(d\)/) });
  });

  test('an RSA key under 2048 bits is 400', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    expect(await put(JSON.stringify({ ...weak, kid: alice.kid }))).toMatchObject({ status: 400, body: expect.stringMatching(/2048/) });
  });

  test('an EC key off P-256 is 400', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    expect(await put(JSON.stringify({ ...p384, kid: alice.kid }))).toMatchObject({ status: 400, body: expect.stringMatching(/P-256/) });
  });

  test('an Ed25519 key is accepted', async () => {
    const carol = await newPublisher('carol-key', 'ed25519');
    expect((await putKey(registry, clock, carol)).status).toBe(202);
  });

  test('a service name outside [a-z0-9_] is 400', async () => {
    expect(await put(JSON.stringify(alice.jwk), { service: 'My-Service' })).toMatchObject({ status: 400, body: expect.stringMatching(/must match/) });
  });

  test('an expiration in the past is 400', async () => {
    expect(await put(JSON.stringify(alice.jwk), { query: `?expiration=${clock.nowMs / 1000 - 1}` })).toMatchObject({ status: 400, body: expect.stringMatching(/in the past/) });
  });

  test('an expiration that is not a number is 400', async () => {
    expect(await put(JSON.stringify(alice.jwk), { query: '?expiration=tomorrow' })).toMatchObject({ status: 400, body: expect.stringMatching(/whole number of seconds/) });
  });

  test('a request without a bearer token is 400', async () => {
    expect(await put(JSON.stringify(alice.jwk), { token: null })).toMatchObject({ status: 400, body: expect.stringMatching(/Authorization: Bearer/) });
  });

  test('a body over 64 KiB is 413', async () => {
    expect((await put(JSON.stringify({ ...alice.jwk, padding: 'x'.repeat(70_000) }))).status).toBe(413);
  });

  test('other methods are 405', async () => {
    const answer = await httpRequest(keyUrl(registry, alice.kid), { method: 'POST' });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('GET, HEAD, PUT, DELETE');
  });
});

describe('keys awaiting approval', () => {
  const TTL_MS = 3_600_000;
  let carol: Publisher;

  beforeAll(async () => {
    carol = await newPublisher('carol-key');
  });

  beforeEach(async () => {
    await registry.stopAll();
    registry = await startRegistry(registryConfig({ maxPendingKeysPerService: 2, pendingKeyTtlMs: TTL_MS }), clock);
  });

  test('one more than max_pending_keys_per_service is 429, with Retry-After until the oldest one goes', async () => {
    expect((await putKey(registry, clock, alice)).status).toBe(202);
    clock.advance(600_000);
    expect((await putKey(registry, clock, bob)).status).toBe(202);
    const refused = await putKey(registry, clock, carol);
    expect(refused).toMatchObject({ status: 429, body: expect.stringMatching(/already has 2 keys awaiting approval/) });
    expect(refused.headers['retry-after']).toBe('3000');
    expect((await getKey(registry, carol.kid)).status).toBe(404);
  });

  test('a flood of self-signed keys stores no more than the cap, however concurrent', async () => {
    const flood = await Promise.all(Array.from({ length: 100 }, (_, i) => newPublisher(`flood-${i}`)));
    const statuses = await Promise.all(flood.map((publisher) => putKey(registry, clock, publisher).then((answer) => answer.status)));
    expect(statuses.filter((status) => status === 202)).toHaveLength(2);
    expect(statuses.filter((status) => status === 429)).toHaveLength(98);
    expect(await registry.registry.list({ service: SERVICE })).toHaveLength(2);
  });

  test('publishing a pending key again does not count it twice', async () => {
    await putKey(registry, clock, alice);
    await putKey(registry, clock, bob);
    expect((await putKey(registry, clock, alice)).status).toBe(202);
  });

  test('a rotation is not limited', async () => {
    await publishApproved(alice);
    await putKey(registry, clock, bob);
    await putKey(registry, clock, carol);
    const dave = await newPublisher('dave-key');
    expect((await putKey(registry, clock, dave, alice)).status).toBe(200);
  });

  test('revoking a key awaiting approval frees its place at once', async () => {
    await putKey(registry, clock, alice);
    await putKey(registry, clock, bob);
    await registry.registry.revoke(SERVICE, alice.kid);
    expect((await putKey(registry, clock, carol)).status).toBe(202);
  });

  test('a key that expired before approval frees its place at once', async () => {
    await putKey(registry, clock, alice, alice, { expiresInS: 60 });
    await putKey(registry, clock, bob);
    clock.advance(60_000);
    expect((await putKey(registry, clock, carol)).status).toBe(202);
  });

  test('a key not approved within pending_key_ttl is gone: GET 404, approval refused, its place free', async () => {
    await putKey(registry, clock, alice, alice, { expiresInS: 86_400 });
    await putKey(registry, clock, bob, bob, { expiresInS: 86_400 });
    clock.advance(TTL_MS);
    expect((await getKey(registry, alice.kid)).status).toBe(404);
    await expect(registry.registry.approve(SERVICE, alice.kid)).rejects.toThrow(/not approved within pending_key_ttl/);
    expect(await registry.registry.list({ service: SERVICE })).toEqual([]);
    expect((await putKey(registry, clock, carol)).status).toBe(202);
  });

  test('a key dropped after pending_key_ttl can be published again, and waits anew', async () => {
    await putKey(registry, clock, alice, alice, { expiresInS: 86_400 });
    clock.advance(TTL_MS);
    expect((await putKey(registry, clock, alice, alice, { expiresInS: 86_400 })).status).toBe(202);
    clock.advance(TTL_MS - 1);
    expect((await getKey(registry, alice.kid)).status).toBe(409);
  });

  test('approved in time, a key is no longer subject to pending_key_ttl', async () => {
    await putKey(registry, clock, alice, alice, { expiresInS: 86_400 });
    await registry.registry.approve(SERVICE, alice.kid);
    clock.advance(TTL_MS);
    expect((await getKey(registry, alice.kid)).status).toBe(200);
  });
});

describe('DELETE /services/<svc>/keys/<kid>', () => {
  test('a self-signed DELETE revokes the key: 204, then GET is 404', async () => {
    await publishApproved(alice);
    expect((await deleteKey(registry, clock, alice.kid, alice)).status).toBe(204);
    expect((await getKey(registry, alice.kid)).status).toBe(404);
  });

  test('a pending key can be deleted by itself', async () => {
    await putKey(registry, clock, alice);
    expect((await deleteKey(registry, clock, alice.kid, alice)).status).toBe(204);
  });

  test('a DELETE signed by another key is 403', async () => {
    await publishApproved(alice);
    await publishApproved(bob);
    expect((await deleteKey(registry, clock, alice.kid, bob)).status).toBe(403);
    expect((await getKey(registry, alice.kid)).status).toBe(200);
  });

  test('a DELETE naming the kid but signed by another key is 403', async () => {
    await publishApproved(alice);
    const forger = { ...bob, kid: alice.kid };
    expect((await deleteKey(registry, clock, alice.kid, forger)).status).toBe(403);
  });

  test('a DELETE of an unknown key is 404', async () => {
    expect((await deleteKey(registry, clock, alice.kid, alice)).status).toBe(404);
  });

  test('a DELETE of a revoked key is 404', async () => {
    await publishApproved(alice);
    await deleteKey(registry, clock, alice.kid, alice);
    expect((await deleteKey(registry, clock, alice.kid, alice)).status).toBe(404);
  });
});

test('an unknown path is 404', async () => {
  expect((await httpRequest(`${registry.address().origin}/healthz`)).status).toBe(404);
});
