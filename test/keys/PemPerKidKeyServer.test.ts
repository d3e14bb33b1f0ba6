// The PEM-per-kid key server (AWS ALB) against a real key endpoint on loopback: kids named by
// unverified tokens cannot make it fetch without bound, nor push the known keys out.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { KeyNotFoundError } from '../../src/keys/KeyServer';
import { PemPerKidKeyServer } from '../../src/keys/PemPerKidKeyServer';
import { clientGroup } from '../../src/keys/WantedKids';
import { silentLogger } from '../../src/observability/logger';
import { closeServer, listenOnLoopback } from '../support/loopbackServer';

const pem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
const requested: string[] = [];
const endpoint = http.createServer((req, res) => {
  requested.push(req.url!);
  if (req.url === '/known-kid') return void res.writeHead(200, { 'content-type': 'text/plain' }).end(pem);
  res.writeHead(404).end();
});
let baseUrl: string;
let now = 1_795_000_000_000;
beforeAll(async () => (baseUrl = await listenOnLoopback(endpoint)));
afterAll(() => closeServer(endpoint));

test('new kids are fetched at most 30 a minute and one per 5 s slot; past that they are not found without a request, and a known key still answers', async () => {
  const server = new PemPerKidKeyServer(
    { type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 },
    { clock: () => now, logger: silentLogger },
  );
  expect((await server.getPublicKey('i', 'known-kid')).algorithm).toBe('ES256');
  for (let i = 0; i < 100; i++) await expect(server.getPublicKey('i', `random-${i}`)).rejects.toBeInstanceOf(KeyNotFoundError);
  // 30 from the budget, one from the first slot.
  expect(requested.length).toBe(31);
  expect((await server.getPublicKey('i', 'known-kid')).algorithm).toBe('ES256');
  expect(requested.length).toBe(31);
  now += 60_000;
  await expect(server.getPublicKey('i', 'random-again')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect(requested.length).toBe(32);
  await server.stop();
});

test('made-up kids past the budget do not lock out a kid the endpoint serves: it is fetched at the next slot', async () => {
  const server = new PemPerKidKeyServer(
    { type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 },
    { clock: () => now, logger: silentLogger },
  );
  now += 120_000;
  const before = requested.length;
  // Anonymous requests naming 40 made-up kids spend the minute's budget before any signature check.
  for (let i = 0; i < 40; i++) await expect(server.getPublicKey('i', `made-up-${i}`, `203.0.113.${i}`)).rejects.toBeInstanceOf(KeyNotFoundError);
  expect(requested.length - before).toBeLessThanOrEqual(31);
  // Real users keep sending the real kid (refused while the slot is not due)...
  for (let i = 0; i < 3; i++) await server.getPublicKey('i', 'known-kid', `198.51.100.${i}`).catch(() => undefined);
  // ...and more made-up kids keep coming, each once.
  for (let i = 40; i < 60; i++) await server.getPublicKey('i', `made-up-${i}`, `203.0.113.${i}`).catch(() => undefined);
  // Within one slot (5 s), still inside the budget's minute, the real kid is found.
  now += 5_000;
  expect((await server.getPublicKey('i', 'known-kid', '198.51.100.0')).algorithm).toBe('ES256');
  expect(requested.length - before).toBeLessThanOrEqual(33);
  await server.stop();
});

describe('past the budget, the kid wanted by the most clients is fetched, however fast one client asks', () => {
  const ATTACKER = '203.0.113.9';

  async function budgetSpent(): Promise<PemPerKidKeyServer> {
    const server = new PemPerKidKeyServer(
      { type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 },
      { clock: () => now, logger: silentLogger },
    );
    now += 120_000;
    for (let i = 0; i < 31; i++) await server.getPublicKey('i', `spent-${i}`, ATTACKER).catch(() => undefined);
    return server;
  }

  test('one address naming one made-up kid at a high rate does not outweigh two users of the real kid', async () => {
    const server = await budgetSpent();
    for (let i = 0; i < 500; i++) await server.getPublicKey('i', 'made-up-hot', ATTACKER).catch(() => undefined);
    for (const user of ['198.51.100.1', '198.51.100.2']) await expect(server.getPublicKey('i', 'known-kid', user)).rejects.toBeInstanceOf(KeyNotFoundError);
    now += 5_000;
    // The attacker's next request opens the slot: the real kid is fetched, for its users.
    await server.getPublicKey('i', 'made-up-hot', ATTACKER).catch(() => undefined);
    expect((await server.getPublicKey('i', 'known-kid', '198.51.100.1')).algorithm).toBe('ES256');
    await server.stop();
  });

  test('one address naming many made-up kids weighs as one client: a single user of the real kid wins the slot', async () => {
    const server = await budgetSpent();
    // Each made-up kid named three times: counted per request, any of them would outweigh the real kid.
    for (let round = 0; round < 3; round++) for (let i = 0; i < 200; i++) await server.getPublicKey('i', `made-up-many-${i}`, ATTACKER).catch(() => undefined);
    await expect(server.getPublicKey('i', 'known-kid', '198.51.100.7')).rejects.toBeInstanceOf(KeyNotFoundError);
    now += 5_000;
    expect((await server.getPublicKey('i', 'known-kid', '198.51.100.7')).algorithm).toBe('ES256');
    await server.stop();
  });

  /** One endpoint counting the real kid's fetches, for the sieges below. */
  async function siege(run: (ask: (kid: string, client: string) => Promise<boolean>, fresh: () => string) => Promise<void>): Promise<number> {
    let realFetches = 0;
    const counting = http.createServer((req, res) => {
      if (req.url === '/real-kid') {
        realFetches++;
        return void res.writeHead(200).end(pem);
      }
      res.writeHead(404).end();
    });
    const url = await listenOnLoopback(counting);
    const server = new PemPerKidKeyServer(
      { type: 'pem_per_kid', baseUrl: new URL(`${url}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 },
      { clock: () => now, logger: silentLogger },
    );
    let made = 0;
    try {
      await run(
        (kid, client) =>
          server.getPublicKey('i', kid, client).then(
            () => true,
            () => false,
          ),
        () => `made-up-${made++}`,
      );
    } finally {
      await server.stop();
      await closeServer(counting);
    }
    return realFetches;
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  test("one address flooding new kids just before every slot does not push a single user's real kid out of the list", async () => {
    const fetches = await siege(async (ask, fresh) => {
      now += 120_000;
      let t0 = now;
      for (let i = 0; i < 31; i++) await ask(fresh(), ATTACKER);
      let found = false;
      for (let slot = 0; slot < 6 && !found; slot++) {
        for (let second = 0; second < 5; second++) {
          now = t0 + second * 1000 + 500;
          for (let i = 0; i < 31; i++) await ask(fresh(), ATTACKER);
          found ||= await ask('real-kid', '198.51.100.7');
        }
        // Just before the slot: 256 new kids from the same address, to fill the list.
        now = t0 + 4999;
        for (let i = 0; i < 256; i++) await ask(fresh(), ATTACKER);
        now = t0 + 5000;
        await ask(fresh(), ATTACKER);
        t0 += 5000;
        await settle();
      }
      found ||= await ask('real-kid', '198.51.100.7');
      expect(found).toBe(true);
    });
    expect(fetches).toBe(1);
  });

  async function outnumbered(attackers: string[]): Promise<number> {
    let slotsWaited = -1;
    await siege(async (ask, fresh) => {
      const users = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
      now += 120_000;
      let t0 = now;
      for (let i = 0; i < 31; i++) await ask(fresh(), '192.0.2.1');
      for (let slot = 0; slot < 12 && slotsWaited < 0; slot++) {
        // More addresses than the real kid has users name one fresh made-up kid each slot.
        now = t0 + 100;
        const bait = fresh();
        for (const attacker of attackers) await ask(bait, attacker);
        for (let second = 0; second < 5; second++) {
          now = t0 + second * 1000 + 500;
          for (let i = 0; i < 31; i++) await ask(fresh(), '192.0.2.1');
          for (const user of users) if ((await ask('real-kid', user)) && slotsWaited < 0) slotsWaited = slot;
        }
        now = t0 + 5000;
        await ask(fresh(), '192.0.2.1');
        t0 += 5000;
        await settle();
      }
    });
    return slotsWaited;
  }

  test('addresses of one IPv6 /56 count as one client: four of them do not outweigh three users', async () => {
    expect(await outnumbered(['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4'])).toBe(1);
  });

  test('more attacking addresses than users delay a real kid by a few slots, not for good: a waiting kid gains weight, a slot spent on a missing kid mutes its clients', async () => {
    const slots = await outnumbered(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5', '203.0.113.6']);
    expect(slots).toBeGreaterThanOrEqual(1);
    expect(slots).toBeLessThanOrEqual(3);
  });
});

test('an IPv6 client counts per /56 (a subscriber network), IPv4 and IPv4-mapped per address', () => {
  expect(clientGroup('2001:db8:0:1::7')).toBe('2001:db8:0:0::/56');
  expect(clientGroup('2001:db8:0:1ff::1')).toBe('2001:db8:0:100::/56');
  expect(clientGroup('2001:db8:0:100::1')).toBe('2001:db8:0:100::/56');
  expect(clientGroup('2001:0DB8:0000:0001:ffff::1%eth0')).toBe('2001:db8:0:0::/56');
  expect(clientGroup('1:2::3:4:5:1.2.3.4')).toBe('1:2:0:0::/56');
  expect(clientGroup('1:2:0:3ab::1.2.3.4')).toBe('1:2:0:300::/56');
  expect(clientGroup('::1')).toBe('0:0:0:0::/56');
  expect(clientGroup('::ffff:192.0.2.7')).toBe('192.0.2.7');
  expect(clientGroup('::ffff:c000:207')).toBe('192.0.2.7');
  expect(clientGroup('192.0.2.7')).toBe('192.0.2.7');
  expect(clientGroup('unix')).toBe('unix');
});
