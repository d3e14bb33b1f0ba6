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

test('new kids are fetched at most 30 a minute; past that they are not found without a request, and a known key still answers', async () => {
  const server = new PemPerKidKeyServer({ type: 'pem_per_kid', baseUrl: new URL(`${baseUrl}/`), issuers: [], cacheDurationMs: 86_400_000, notFoundCacheMs: 30_000 }, { clock: () => now, logger: silentLogger });
  expect((await server.getPublicKey('i', 'known-kid')).algorithm).toBe('ES256');
  for (let i = 0; i < 100; i++) await expect(server.getPublicKey('i', `random-${i}`)).rejects.toBeInstanceOf(KeyNotFoundError);
  expect(requested.length).toBe(30);
  expect((await server.getPublicKey('i', 'known-kid')).algorithm).toBe('ES256');
  expect(requested.length).toBe(30);
  now += 60_000;
  await expect(server.getPublicKey('i', 'random-again')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect(requested.length).toBe(31);
  await server.stop();
});
