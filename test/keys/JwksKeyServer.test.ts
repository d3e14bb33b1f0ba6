// The jwks key server against a real HTTP JWKS endpoint on loopback, with an injected clock.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwksKeyServer } from '../../src/keys/JwksKeyServer';
import { KeyNotFoundError, KeysUnavailableError } from '../../src/keys/KeyServer';
import { eventually } from '../support/eventually';
import { selfSignedCertificate } from '../support/selfSignedCertificate';
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
  // The stale set still answers at once; the refresh runs behind it.
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
  await eventually(() => requests === 2, 'the background refresh');
});

test('when the provider fails, the last good set stays in use and retries are spaced', async () => {
  const server = await keyServer({ refreshMs: 60_000, minRefetchMs: 10_000 });
  answer = { status: 503, body: {} };
  now += 61_000;
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
  await eventually(() => requests === 2, 'the background refresh');
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
  expect(requests).toBe(2);
});

test('a provider down at start is not fatal: the server is not ready, lookups fail as unavailable, and it recovers by itself', async () => {
  answer = { status: 500, body: {} };
  const server = await keyServer({ minRefetchMs: 1000 });
  expect(server.ready()).toBe(false);
  await expect(server.getPublicKey('i', 'rsa-1')).rejects.toBeInstanceOf(KeysUnavailableError);
  answer = { status: 200, body: { keys: [jwk(rsa.publicKey, 'rsa-1')] } };
  await eventually(() => server.ready(), 'the retried fetch');
  expect((await server.getPublicKey('i', 'rsa-1')).algorithm).toBe('RS256');
});

test('garbage at start (not JSON, no keys array, no usable key) leaves the server not ready', async () => {
  for (const body of ['<html>', { keys: 'no' }, { keys: [{ kty: 'RSA', kid: 'broken', n: '!!', e: 'AQAB' }] }]) {
    answer = { status: 200, body };
    const server = await keyServer();
    expect(server.ready()).toBe(false);
    await expect(server.getPublicKey('i', 'broken')).rejects.toBeInstanceOf(KeysUnavailableError);
  }
});

test('a set longer than 1 MiB, or a redirect, leaves the server not ready, saying why', async () => {
  answer = { status: 200, body: { keys: [jwk(rsa.publicKey, 'rsa-1')], padding: 'x'.repeat(1024 * 1024) } };
  const tooLong = await keyServer();
  await expect(tooLong.getPublicKey('i', 'rsa-1')).rejects.toThrow(`${url}: answered more than 1048576 bytes`);
  answer = { status: 302, body: {}, headers: { location: 'https://login.example/' } };
  const redirected = await keyServer();
  await expect(redirected.getPublicKey('i', 'rsa-1')).rejects.toThrow(`${url}: answered 302, a redirect to https://login.example/, which is not followed`);
});

test('a malformed key inside a set is skipped and the others are served', async () => {
  answer.body = { keys: [{ kty: 'RSA', kid: 'broken', n: '!!', e: 'AQAB' }, jwk(ec.publicKey, 'ec-1')] };
  const server = await keyServer();
  await expect(server.getPublicKey('i', 'broken')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect((await server.getPublicKey('i', 'ec-1')).algorithm).toBe('ES256');
});

test("Cloudflare's public_certs PEMs are keys too, for kids the JWKs lack", async () => {
  const certificate = selfSignedCertificate(rsa);
  answer.body = { keys: [], public_cert: { kid: 'cert-1', cert: certificate }, public_certs: [{ kid: 'cert-1', cert: certificate }] };
  const server = await keyServer();
  const key = await server.getPublicKey('i', 'cert-1');
  expect(key.algorithm).toBe('RS256');
  expect(key.key.export({ format: 'jwk' }).n).toBe(rsa.publicKey.export({ format: 'jwk' }).n);
});

test('OIDC discovery: the keys come from jwks_uri, and a document naming another issuer is refused', async () => {
  const discovery = http.createServer((req, res) => {
    const issuer = req.url === '/evil/.well-known/openid-configuration' ? 'https://evil.example' : 'https://idp.example';
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: url }));
  });
  await new Promise<void>((resolve) => discovery.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}`;
  try {
    const make = (path: string) =>
      new JwksKeyServer(
        { type: 'jwks', discoveryUrl: new URL(`${base}${path}/.well-known/openid-configuration`), issuers: ['https://idp.example'], refreshIntervalMs: 3_600_000, minRefetchIntervalMs: 30_000 },
        { clock: () => now, logger: silentLogger },
      );
    const good = make('');
    servers.push(good);
    await good.start();
    expect((await good.getPublicKey('https://idp.example', 'rsa-1')).algorithm).toBe('RS256');
    const evil = make('/evil');
    servers.push(evil);
    await evil.start();
    expect(evil.ready()).toBe(false);
  } finally {
    await new Promise((resolve) => discovery.close(resolve));
  }
});

test('with issuers set, a token of another issuer finds no key', async () => {
  const server = await keyServer({ issuers: ['https://team.example'] });
  await expect(server.getPublicKey('https://evil.example', 'rsa-1')).rejects.toBeInstanceOf(KeyNotFoundError);
  expect((await server.getPublicKey('https://team.example', 'rsa-1')).algorithm).toBe('RS256');
});
