// The PEM-per-kid key server (AWS ALB) against a real key endpoint on loopback: kids named by
// unverified tokens cannot make it fetch without bound, nor push the known keys out.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { KeyNotFoundError } from '../../src/keys/KeyServer';
import { PemPerKidKeyServer } from '../../src/keys/PemPerKidKeyServer';
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
  const server = new PemPerKidKeyServer({ type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 }, { clock: () => now, logger: silentLogger });
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
  const server = new PemPerKidKeyServer({ type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 }, { clock: () => now, logger: silentLogger });
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
    const server = new PemPerKidKeyServer({ type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 }, { clock: () => now, logger: silentLogger });
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
});
