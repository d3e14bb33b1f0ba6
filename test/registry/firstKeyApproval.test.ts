// Auto approval of a service's first key, decided once across registry processes sharing storage.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../src/observability/logger';
import { FileKeyStorage } from '../../src/registry/FileKeyStorage';
import { KeyRegistry, registryPolicy, type OfferedKey } from '../../src/registry/KeyRegistry';
import type { KeyStorage } from '../../src/registry/KeyStorage';
import { RedisKeyStorage } from '../../src/registry/RedisKeyStorage';
import { RedisServer } from '../support/redisServer';
import { newPublisher, registryConfig, TestClock, type Publisher } from './registryTestKit';

let redis: RedisServer;
let directory: string;
let publishers: Publisher[];

beforeAll(async () => {
  redis = await RedisServer.start();
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-first-key-'));
  publishers = await Promise.all([newPublisher('one'), newPublisher('two')]);
});

afterAll(async () => {
  await redis.kill();
  await fs.rm(directory, { recursive: true, force: true });
});

const storages: [string, (round: number) => [KeyStorage, KeyStorage]][] = [
  ['redis', (round) => [new RedisKeyStorage(redis.url, `first${round}:`, silentLogger), new RedisKeyStorage(redis.url, `first${round}:`, silentLogger)]],
  [
    'file',
    (round) => {
      const file = path.join(directory, `keys-${round}.json`);
      return [new FileKeyStorage(file), new FileKeyStorage(file)];
    },
  ],
];

test.each(storages)('two registries on one %s storage offered two different first keys at once approve exactly one', async (_kind, open) => {
  const clock = new TestClock();
  for (let round = 0; round < 8; round++) {
    const handles = open(round);
    await Promise.all(handles.map((storage) => storage.start()));
    const registries = handles.map((storage) => new KeyRegistry(registryPolicy(registryConfig({ approval: 'auto' })), { storage, clock: clock.clock, logger: silentLogger }));
    const offer = (publisher: Publisher): OfferedKey => ({
      service: `svc${round}`,
      kid: publisher.kid,
      jwk: publisher.jwk as OfferedKey['jwk'],
      expiresAt: clock.nowMs + 3_600_000,
      rotationSeconds: 1800,
    });
    const states = await Promise.all(registries.map((registry, index) => registry.publish(offer(publishers[index]))));
    expect(states.sort()).toEqual(['approved', 'pending']);
    await Promise.all(handles.map((storage) => storage.stop()));
  }
});
