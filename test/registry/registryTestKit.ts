// What the registry tests share: a config, a settable clock, publisher keys, request tokens.
import { generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { algorithmOf, type SigningAlgorithm } from '../../src/jwt/algorithms';
import { signToken, type Claims } from '../../src/jwt/token';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { silentLogger } from '../../src/observability/logger';
import { KeyRegistryServer, type KeyRegistryServerDeps } from '../../src/registry/KeyRegistryServer';
import { httpRequest, type Answer } from '../support/httpRequest';
import type { KeyRegistryConfig } from '../../src/registry/registryConfig';

export const SERVICE = 'myservice';
/** 2026-11-22T15:24:23Z, a whole second. */
export const T0 = 1795361063_000;

export class TestClock {
  constructor(public nowMs = T0) {}
  readonly clock = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export function registryConfig(overrides: Partial<KeyRegistryConfig> = {}): KeyRegistryConfig {
  return {
    enabled: true,
    listenAddr: '127.0.0.1:0',
    socketPermission: 0o755,
    shutdownTimeoutMs: 1_000,
    approval: 'manual',
    autoApproveServices: [],
    storage: { type: 'memory' },
    maxCacheAgeMs: 86_400_000,
    rotationGraceMs: 600_000,
    maxPendingKeysPerService: 10,
    pendingKeyTtlMs: 86_400_000,
    admin: { enabled: false, listenAddr: '127.0.0.1:0' },
    ...overrides,
  };
}

export interface Publisher {
  kid: string;
  privateKey: KeyObject;
  algorithm: SigningAlgorithm;
  /** The public JWK as a PUT body carries it. */
  jwk: Record<string, string>;
}

const generate = promisify(generateKeyPair);

/** A fresh key pair; EC P-256 unless told (fast to generate), RSA 2048 like the Go signer. */
export async function newPublisher(kid: string, type: 'ec' | 'rsa' | 'ed25519' = 'ec'): Promise<Publisher> {
  const { privateKey, publicKey } = type === 'rsa' ? await generate('rsa', { modulusLength: 2048 }) : type === 'ec' ? await generate('ec', { namedCurve: 'P-256' }) : await generate('ed25519');
  const algorithm = algorithmOf(privateKey);
  return { kid, privateKey, algorithm, jwk: { kid, ...(publicKey.export({ format: 'jwk' }) as Record<string, string>), alg: algorithm, use: 'sig' } };
}

/** A request token as the Go signer makes one (5 min lifetime, nbf 1 min back), claims overridable. */
export function requestToken(signer: Publisher, audience: string, nowMs: number, overrides: Claims = {}, kid = signer.kid): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  const claims = { aud: audience, exp: iat + 300, iat, iss: SERVICE, jti: randomBytes(16).toString('base64url'), nbf: iat - 60, ...overrides };
  return signToken(signer.algorithm, signer.privateKey, kid, claims);
}

export function keyUrl(server: KeyRegistryServer, kid: string, service = SERVICE, query = ''): string {
  return `${server.address().origin}/services/${service}/keys/${encodeURIComponent(kid)}${query}`;
}

/** PUT of `publisher`'s key, signed by `signer` (itself by default). */
export async function putKey(server: KeyRegistryServer, clock: TestClock, publisher: Publisher, signer = publisher, options: { claims?: Claims; expiresInS?: number } = {}): Promise<Answer> {
  const token = await requestToken(signer, server.address().origin, clock.nowMs, options.claims);
  const expiration = Math.floor(clock.nowMs / 1000) + (options.expiresInS ?? 3600);
  return httpRequest(keyUrl(server, publisher.kid, SERVICE, `?expiration=${expiration}&rotation=1800`), {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(publisher.jwk),
  });
}

export async function deleteKey(server: KeyRegistryServer, clock: TestClock, kid: string, signer: Publisher): Promise<Answer> {
  const token = await requestToken(signer, server.address().origin, clock.nowMs);
  return httpRequest(keyUrl(server, kid), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
}

export function getKey(server: KeyRegistryServer, kid: string, service = SERVICE): Promise<Answer> {
  return httpRequest(keyUrl(server, kid, service));
}

/** A started registry on loopback with a local nonce store; stop() stops both. */
export async function startRegistry(config: KeyRegistryConfig, clock: TestClock, deps: Partial<KeyRegistryServerDeps> = {}): Promise<KeyRegistryServer & { stopAll(): Promise<void> }> {
  const nonceStore = deps.nonceStore ?? new LocalNonceStore({ purgeIntervalMs: 60_000, maxEntries: 10_000, clock: clock.clock, logger: silentLogger });
  await nonceStore.start();
  const server = new KeyRegistryServer(config, { nonceStore, clock: clock.clock, logger: silentLogger, ...deps });
  await server.start();
  return Object.assign(server, {
    async stopAll() {
      await server.stop();
      await nonceStore.stop();
    },
  });
}
