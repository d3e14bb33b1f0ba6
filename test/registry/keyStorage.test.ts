// The contract every key storage keeps (memory, file, Redis), atomic updates included.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/observability/logger';
import { FileKeyStorage } from '../../src/registry/FileKeyStorage';
import type { KeyStorage } from '../../src/registry/KeyStorage';
import { MemoryKeyStorage } from '../../src/registry/MemoryKeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import type { RegisteredKey } from '../../src/registry/RegisteredKey';
import { RedisServer } from '../support/redisServer';

function record(service: string, kid: string, overrides: Partial<RegisteredKey> = {}): RegisteredKey {
  return {
    service,
    kid,
    jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid },
    state: 'pending',
    expiresAt: 1_800_000_000_000,
    rotationSeconds: 60,
    createdAt: 1_795_000_000_000,
    approvedAt: null,
    revokeAt: null,
    ...overrides,
  };
}

const increment = (current: RegisteredKey | undefined) => ({ ...current!, rotationSeconds: current!.rotationSeconds! + 1 });

let redis: RedisServer;
let directory: string;
let prefixCount = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-storage-'));
});

afterAll(async () => {
  await redis.kill();
  await fs.rm(directory, { recursive: true, force: true });
});

/** Two handles on one store, as two registry processes would have (memory has only one). */
const kinds: [string, () => [KeyStorage, KeyStorage]][] = [
  [
    'memory',
    () => {
      const storage = new MemoryKeyStorage();
      return [storage, storage];
    },
  ],
  [
    'file',
    () => {
      const file = path.join(directory, `keys-${++prefixCount}.json`);
      return [new FileKeyStorage(file), new FileKeyStorage(file)];
    },
  ],
  [
    'redis',
    () => {
      const prefix = `test${++prefixCount}:`;
      return [new RedisKeyStorage(redis.url, prefix, silentLogger), new RedisKeyStorage(redis.url, prefix, silentLogger)];
    },
  ],
];

describe.each(kinds)('%s key storage', (_kind, open) => {
  let storage: KeyStorage;
  let other: KeyStorage;

  beforeEach(async () => {
    [storage, other] = open();
    await storage.start();
    if (other !== storage) await other.start();
  });

  afterEach(async () => {
    await storage.stop();
    if (other !== storage) await other.stop();
  });

  test('an unknown key is undefined', async () => {
    expect(await storage.get('svc', 'nope')).toBeUndefined();
  });

  test('a written key is read back, by this handle and another', async () => {
    const key = record('svc', 'k1=');
    expect(await storage.update('svc', 'k1=', () => key)).toEqual(key);
    expect(await storage.get('svc', 'k1=')).toEqual(key);
    expect(await other.get('svc', 'k1=')).toEqual(key);
  });

  test('lists every key, or the keys of one service', async () => {
    await storage.update('svc', 'a', () => record('svc', 'a'));
    await storage.update('svc', 'b', () => record('svc', 'b'));
    await storage.update('other', 'a', () => record('other', 'a'));
    expect((await storage.list()).map((key) => `${key.service}/${key.kid}`).sort()).toEqual(['other/a', 'svc/a', 'svc/b']);
    expect((await other.list('svc')).map((key) => key.kid).sort()).toEqual(['a', 'b']);
    expect(await storage.list('nobody')).toEqual([]);
  });

  test('an update sees the current record', async () => {
    await storage.update('svc', 'k', () => record('svc', 'k'));
    const seen: (RegisteredKey | undefined)[] = [];
    await storage.update('svc', 'k', (current) => {
      seen.push(current);
      return undefined;
    });
    expect(seen.at(-1)).toEqual(record('svc', 'k'));
  });

  test('an update returning undefined leaves the key as it is', async () => {
    await storage.update('svc', 'k', () => record('svc', 'k'));
    expect(await storage.update('svc', 'k', () => undefined)).toEqual(record('svc', 'k'));
    expect(await storage.get('svc', 'k')).toEqual(record('svc', 'k'));
  });

  test('an update returning null deletes the key', async () => {
    await storage.update('svc', 'k', () => record('svc', 'k'));
    expect(await storage.update('svc', 'k', () => null)).toBeUndefined();
    expect(await other.get('svc', 'k')).toBeUndefined();
    expect(await storage.list()).toEqual([]);
  });

  test('an update that throws changes nothing and rejects', async () => {
    await storage.update('svc', 'k', () => record('svc', 'k'));
    await expect(
      storage.update('svc', 'k', () => {
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await storage.get('svc', 'k')).toEqual(record('svc', 'k'));
  });

  test('concurrent updates from two handles lose nothing', async () => {
    await storage.update('svc', 'k', () => record('svc', 'k', { rotationSeconds: 0 }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? storage : other).update('svc', 'k', increment)));
    expect((await storage.get('svc', 'k'))!.rotationSeconds).toBe(20);
  });

  test("an update sees the service's other keys as they are at its write", async () => {
    await storage.update('svc', 'a', () => record('svc', 'a'));
    let seen: string[] = [];
    await other.update('svc', 'b', (_current, others) => ((seen = others.map((key) => key.kid)), record('svc', 'b')));
    expect(seen).toEqual(['a']);
  });

  test('of two handles each writing a different "first key" of a service, only one sees no other key', async () => {
    for (let round = 0; round < 10; round++) {
      const service = `race${round}`;
      const firsts: string[] = [];
      const write = (handle: KeyStorage, kid: string) =>
        handle.update(service, kid, (_current, others) => {
          const first = others.length === 0;
          return record(service, kid, { state: first ? 'approved' : 'pending' });
        });
      await Promise.all([write(storage, 'x'), write(other, 'y')]);
      for (const key of await storage.list(service)) if (key.state === 'approved') firsts.push(key.kid);
      expect(firsts).toHaveLength(1);
    }
  });
});
