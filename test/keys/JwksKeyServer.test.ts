// The jwks key server against a real HTTP JWKS endpoint on loopback, with an injected clock.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksKeyServer } from '../../src/keys/JwksKeyServer';
import { KeyNotFoundError, KeyServerError } from '../../src/keys/KeyServer';
import { silentLogger } from '../../src/observability/logger';

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (key: crypto.KeyObject, kid: string, extra: object = {}) => ({ ...key.export({ format: 'jwk' }), kid, ...extra });

let provider: http.Server;
let url: string;
let requests = 0;
let answer: { status: number; body: unknown; headers?: http.OutgoingHttpHeaders };
let now = 1_795_000_000_000;

beforeAll(async () => {
  provider = http.createServer((_req, res) => {
    requests++;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/cdn-cgi/access/certs`;
});
afterAll(() => new Promise((resolve) => provider.close(resolve)));

const servers: JwksKeyServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.stop();
});

beforeEach(() => {
  requests = 0;
  // Cloudflare Access's shape: keys, plus public_cert(s) which are not used.
  answer = { status: 200, body: { keys: [jwk(rsa.publicKey, 'rsa-1', { alg: 'RS256', use: 'sig' }), jwk(ec.publicKey, 'ec-1')], public_cert: { kid: 'rsa-1', cert: '…' }, public_certs: [] } };
});

async function keyServer(options: { issuers?: string[]; refreshMs?: number; minRefetchMs?: number } = {}): Promise<JwksKeyServer> {
  const server = new JwksKeyServer(
    { type: 'jwks', url: new URL(url), issuers: options.issuers ?? [], refreshIntervalMs: options.refreshMs ?? 3_600_000, minRefetchIntervalMs: options.minRefetchMs ?? 30_000 },
    { clock: () => now, logger: silentLogger },
  );
  servers.push(server);
  await server.start();
  return server;
}

test('serves the RSA and EC keys of the set, each with the algorithm of its key', async () => {
  const server = await keyServer();
  expect((await server.getPublicKey('https://team.example', 'rsa-1')).algorithm).toBe('RS256');
  expect((await server.getPublicKey('https://team.example', 'ec-1')).algorithm).toBe('ES256');
  expect(requests).toBe(1);
});

test('skips keys it cannot use (encryption keys, unknown types) and keeps the rest', async () => {
  answer.body = { keys: [jwk(rsa.publicKey, 'enc-1', { use: 'enc' }), { kty: 'oct', kid: 'hmac', k: 'AAAA' }, jwk(ec.publicKey, 'ec-1')] };
  const server = await keyServer();
  await expect(server.getPublicKey('i', 'enc-1')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect((await server.getPublicKey('i', 'ec-1')).algorithm).toBe('ES256');
});

test('an unknown kid refetches the set once per min_refetch_interval, however many arrive', async () => {
  const server = await keyServer({ minRefetchMs: 30_000 });
  now += 30_000;
  for (let i = 0; i < 50; i++) await expect(server.getPublicKey('i', `random-${i}`)).rejects.toBeInstanceOf(KeyNotFoundError);
  expect(requests).toBe(2);
});

test('a key added by the provider is found by refetching for its unknown kid', async () => {
  const server = await keyServer();
  const rotated = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  answer.body = { keys: [jwk(rotated.publicKey, 'ec-2')] };
  now += 30_000;
  expect((await server.getPublicKey('i', 'ec-2')).algorithm).toBe('ES256');
  await expect(server.getPublicKey('i', 'ec-1')).rejects.toBeInstanceOf(KeyNotFoundError);
});

test('the set is refreshed when its Cache-Control lifetime ends, never later than refresh_interval', async () => {
  answer.headers = { 'cache-control': 'max-age=60' };
  const server = await keyServer({ refreshMs: 3_600_000 });
  now += 59_000;
  await server.getPublicKey('i', 'rsa-1');
  expect(requests).toBe(1);
  now += 2_000;
  await server.getPublicKey('i', 'rsa-1');
  expect(requests).toBe(2);
});

test('when the provider fails, the last good set stays in use and retries are spaced', async () => {
  const server = await keyServer({ refreshMs: 60_000, minRefetchMs: 10_000 });
  answer = { status: 503, body: {} };
  now += 61_000;
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
  expect(requests).toBe(2);
});

test('a provider down at start is not fatal: lookups fail as key server errors until it answers', async () => {
  answer = { status: 500, body: {} };
  const server = await keyServer({ minRefetchMs: 1000 });
  await expect(server.getPublicKey('i', 'rsa-1')).rejects.toBeInstanceOf(KeyServerError);
  answer = { status: 200, body: { keys: [jwk(rsa.publicKey, 'rsa-1')] } };
  now += 1000;
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
});

test('with issuers set, a token of another issuer finds no key', async () => {
  const server = await keyServer({ issuers: ['https://team.example'] });
  await expect(server.getPublicKey('https://evil.example', 'rsa-1')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect((await server.getPublicKey('https://team.example', 'rsa-1')).algorithm).toBe('RS256');
});
