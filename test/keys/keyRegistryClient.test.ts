import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyRegistryClient, KeyRegistryError } from '../../src/keys/KeyRegistryClient';
import { registryJwk } from '../../src/keys/registryJwk';
import { keyThumbprint } from '../../src/keys/keyThumbprint';
import type { SigningKey } from '../../src/keys/PrivateKeySource';
import { parseToken } from '../../src/jwt/token';
import { closedPort } from '../support/closedPort';
import { TestClock } from '../registry/registryTestKit';
import { readInterop } from '../support/interop';
import { startTappedKeyRegistry, type TappedKeyRegistry } from './tappedKeyRegistry';

interface CapturedRequest {
  method: string;
  path: string;
  user_agent: string;
  content_type: string | null;
  jwt_header?: Record<string, unknown>;
  jwt_claims?: Record<string, number | string>;
  body?: string;
}

const capture: CapturedRequest[] = readInterop('keyregistry_publish_capture.jsonl')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as CapturedRequest);
const firstPut = capture[0];
const firstGet = capture[1];
const capturedJwk = JSON.parse(firstPut.body as string) as Record<string, string>;
const captureNowMs = (firstPut.jwt_claims?.iat as number) * 1000;

const goKey = createPrivateKey(readInterop('mykey.key'));

/** A plain recording server: answers each request with the next status of a script. */
async function recordingServer(statuses: number[]): Promise<{ url: URL; requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[]; close: () => Promise<void> }> {
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
      response.writeHead(statuses.shift() ?? 500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function rsaKey(): Promise<KeyObject> {
  return new Promise((resolve, reject) => generateKeyPair('rsa', { modulusLength: 2048 }, (error, _publicKey, privateKey) => (error ? reject(error) : resolve(privateKey))));
}

describe('the Go wire format (capture replay)', () => {
  it('computes the kid of the captured key as Go does: padded base64url RFC 7638 thumbprint', () => {
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: capturedJwk.n.replace(/=+$/, ''), e: capturedJwk.e }, format: 'jwk' });
    expect(keyThumbprint(publicKey)).toBe('1x2qGipqJe4rP0v7OKWC7AF6nSfNYUGZb-nyLyvCBGw=');
  });

  it('serialises the public JWK byte for byte as the Go signer: member order and padding', () => {
    for (const put of capture.filter((request) => request.method === 'PUT')) {
      const jwk = JSON.parse(put.body as string) as Record<string, string>;
      const publicKey = createPublicKey({ key: { kty: 'RSA', n: jwk.n.replace(/=+$/, ''), e: jwk.e }, format: 'jwk' });
      expect(JSON.stringify(registryJwk(keyThumbprint(publicKey), publicKey))).toBe(put.body);
    }
  });

  it('sends the PUT as the Go signer: path, %3D, query names, headers, JWT header and claims', async () => {
    const server = await recordingServer([202]);
    const client = new KeyRegistryClient({ registry: server.url, issuer: 'myservice', clock: () => captureNowMs });
    try {
      const publicKey = createPublicKey({ key: { kty: 'RSA', n: capturedJwk.n.replace(/=+$/, ''), e: capturedJwk.e }, format: 'jwk' });
      const kid = keyThumbprint(publicKey);
      // The captured key's private half is not in the capture; mykey stands in as the signer under its kid.
      const signedBy: SigningKey = { key: goKey, keyId: kid, algorithm: 'RS256' };
      const result = await client.publish(registryJwk(kid, publicKey), { expiration: captureNowMs / 1000 + 20, rotationSeconds: 10, signedBy });

      expect(result).toBe('pending');
      const [put] = server.requests;
      expect(put.method).toBe('PUT');
      expect(put.url).toBe(firstPut.path);
      expect(put.body).toBe(firstPut.body);
      expect(put.headers['user-agent']).toBe(firstPut.user_agent);
      expect(put.headers['content-type']).toBe(firstPut.content_type);
      const token = parseToken(/^Bearer (.+)$/.exec(put.headers.authorization ?? '')?.[1] ?? '');
      expect(JSON.stringify(token?.header)).toBe(JSON.stringify(firstPut.jwt_header));
      const claims = token?.claims as Record<string, number | string>;
      const expected = firstPut.jwt_claims as Record<string, number | string>;
      expect(Object.keys(claims)).toEqual(Object.keys(expected));
      expect(claims.aud).toBe(server.url.origin);
      expect(claims.iss).toBe(expected.iss);
      expect([claims.iat, claims.exp, claims.nbf]).toEqual([expected.iat, expected.exp, expected.nbf]);
      expect(claims.jti).toMatch(/^[A-Za-z0-9+/]{32}$/);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('sends the approval poll as the Go signer: unsigned GET, no Content-Type, same User-Agent', async () => {
    const server = await recordingServer([409]);
    const client = new KeyRegistryClient({ registry: server.url, issuer: 'myservice' });
    try {
      expect(await client.getKey(capturedJwk.kid)).toBe('pending');
      const [get] = server.requests;
      expect(get.method).toBe('GET');
      expect(get.url).toBe(firstGet.path);
      expect(get.headers['user-agent']).toBe(firstGet.user_agent);
      expect(get.headers['content-type']).toBeUndefined();
      expect(get.headers.authorization).toBeUndefined();
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('omits expiration and rotation when no policy is given, as Go does with rotation disabled', async () => {
    const server = await recordingServer([200]);
    const client = new KeyRegistryClient({ registry: server.url, issuer: 'myservice' });
    try {
      const signedBy: SigningKey = { key: goKey, keyId: 'k=', algorithm: 'RS256' };
      expect(await client.publish(registryJwk('k=', goKey), { signedBy })).toBe('approved');
      expect(server.requests[0].url).toBe('/services/myservice/keys/k%3D');
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('keeps the registry path prefix and escapes segments as Go url.QueryEscape', async () => {
    const server = await recordingServer([404]);
    const client = new KeyRegistryClient({ registry: new URL('/keyregistry/', server.url), issuer: "a b!'()*~._-" });
    try {
      expect(await client.getKey('x/y=')).toBe('unknown');
      expect(server.requests[0].url).toBe('/keyregistry/services/a+b%21%27%28%29%2A~._-/keys/x%2Fy%3D');
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('KeyRegistryClient against a registry', () => {
  let clock: TestClock;
  let registry: TappedKeyRegistry;
  let client: KeyRegistryClient;
  let key: SigningKey;

  beforeAll(async () => {
    const privateKey = await rsaKey();
    key = { key: privateKey, keyId: keyThumbprint(privateKey), algorithm: 'RS256' };
  });

  beforeEach(async () => {
    clock = new TestClock();
    registry = await startTappedKeyRegistry({ approval: 'manual', clock });
    client = new KeyRegistryClient({ registry: registry.url, issuer: 'svc', clock: clock.clock });
  });

  afterEach(async () => {
    await client.close();
    await registry.stop();
  });

  it('publishes a self-signed key that awaits approval (202 → pending)', async () => {
    expect(await client.publish(registryJwk(key.keyId, key.key), { signedBy: key })).toBe('pending');
    expect(await registry.stateOf('svc', key.keyId)).toBe('pending');
  });

  it('reads each key status: 409 pending, 200 approved, 404 unknown, 403 expired', async () => {
    await client.publish(registryJwk(key.keyId, key.key), { signedBy: key, expiration: clock.nowMs / 1000 + 60 });
    expect(await client.getKey(key.keyId)).toBe('pending');
    await registry.registry.approve('svc', key.keyId);
    expect(await client.getKey(key.keyId)).toBe('approved');
    expect(await client.getKey('nope=')).toBe('unknown');
    clock.advance(60_000);
    expect(await client.getKey(key.keyId)).toBe('expired');
  });

  it('deletes a key signed by itself (204)', async () => {
    await client.publish(registryJwk(key.keyId, key.key), { signedBy: key });
    await client.deleteKey(key.keyId, key);
    // The registry keeps a revoked key's record, so that its kid cannot be published again.
    expect(await registry.stateOf('svc', key.keyId)).toBe('revoked');
    const deletion = registry.tap.requests.find((request) => request.method === 'DELETE');
    expect(deletion?.token?.header.kid).toBe(key.keyId);
  });

  it('rejects an unexpected answer with ERR_KEY_REGISTRY_RESPONSE and its status', async () => {
    const error = await client.deleteKey(key.keyId, key).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KeyRegistryError);
    expect(error).toMatchObject({ code: 'ERR_KEY_REGISTRY_RESPONSE', status: 404 });
  });
});

describe('KeyRegistryClient failures', () => {
  it('reports a registry that refuses connections as ERR_KEY_REGISTRY_UNREACHABLE', async () => {
    const client = new KeyRegistryClient({ registry: new URL(`http://127.0.0.1:${await closedPort()}/`), issuer: 'svc' });
    await expect(client.getKey('k')).rejects.toMatchObject({ code: 'ERR_KEY_REGISTRY_UNREACHABLE' });
    await client.close();
  });

  it('gives up on a registry that does not answer with ERR_KEY_REGISTRY_TIMEOUT', async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new KeyRegistryClient({ registry: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), issuer: 'svc', timeoutMs: 100 });
    try {
      await expect(client.getKey('k')).rejects.toMatchObject({ code: 'ERR_KEY_REGISTRY_TIMEOUT' });
    } finally {
      await client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses an answer longer than 64 KiB with ERR_KEY_REGISTRY_RESPONSE and its status', async () => {
    const server = http.createServer((_request, response) => void response.end('x'.repeat(64 * 1024 + 1)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new KeyRegistryClient({ registry: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), issuer: 'svc' });
    try {
      await expect(client.getKey('k')).rejects.toMatchObject({ code: 'ERR_KEY_REGISTRY_RESPONSE', status: 200, message: expect.stringMatching(/the key registry answered more than 65536 bytes$/) });
    } finally {
      await client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports a cancelled request as ERR_KEY_REGISTRY_ABORTED', async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new KeyRegistryClient({ registry: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), issuer: 'svc' });
    try {
      const abort = new AbortController();
      const pending = client.getKey('k', { signal: abort.signal });
      abort.abort();
      await expect(pending).rejects.toMatchObject({ code: 'ERR_KEY_REGISTRY_ABORTED' });
    } finally {
      await client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
