import cluster, { type Worker } from 'node:cluster';
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { isClusterMessage } from '../../src/cluster/messages';
import { PrimaryChannel } from '../../src/cluster/PrimaryChannel';
import { WorkersChannel } from '../../src/cluster/WorkersChannel';
import { LocalNonceStore } from '../../src/nonce/LocalNonceStore';
import { NonceStoreUnavailableError, type NonceStore } from '../../src/nonce/NonceStore';
import { SharedNonceStore } from '../../src/nonce/SharedNonceStore';
import { SharedNonceStoreHost } from '../../src/nonce/SharedNonceStoreHost';
import { silentLogger } from '../../src/observability/logger';

const fixtures = path.join(__dirname, '../fixtures/processes');
const expiresAtMs = Date.now() + 300_000;

type Outcome = boolean | { code: string; message: string };

function nextMessage<T>(peer: Worker | ChildProcess, test: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { test?: string }): void => {
      if (message?.test !== test) return;
      peer.off('message', onMessage);
      resolve(message as T);
    };
    peer.on('message', onMessage);
  });
}

async function claimIn(worker: Worker, store: string, jtis: string[]): Promise<Outcome[]> {
  const answer = nextMessage<{ outcomes: Outcome[] }>(worker, 'claimed');
  worker.send({ test: 'claim', store, jtis, expiresAtMs });
  return (await answer).outcomes;
}

describe('SharedNonceStore across real cluster workers', () => {
  let workers: Worker[];
  let channel: WorkersChannel;
  let detach: () => void;
  const stores = new Map<string, NonceStore>([
    ['verifier_proxies[0]', new LocalNonceStore({ purgeIntervalMs: 60_000, maxEntries: 100_000, clock: Date.now, logger: silentLogger })],
    ['verifier_proxies[1]', new LocalNonceStore({ purgeIntervalMs: 60_000, maxEntries: 2, clock: Date.now, logger: silentLogger })],
  ]);

  beforeAll(async () => {
    channel = new WorkersChannel(cluster, silentLogger);
    detach = new SharedNonceStoreHost(stores, silentLogger).attach(channel);
    cluster.setupPrimary({ exec: path.join(fixtures, 'sharedNonceWorker.js'), args: [], execArgv: [] });
    workers = [cluster.fork(), cluster.fork()];
    await Promise.all(workers.map((worker) => nextMessage(worker, 'ready')));
  });

  afterAll(async () => {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise((resolve) => {
            worker.once('exit', resolve);
            worker.kill();
          }),
      ),
    );
    detach();
    channel.close();
  });

  test('each token id is accepted by exactly one worker', async () => {
    const jtis = Array.from({ length: 200 }, (_, i) => `race-${i}`);
    // Every id three times per worker, both workers at once.
    const claims = [...jtis, ...jtis, ...jtis];
    const [first, second] = await Promise.all(workers.map((worker) => claimIn(worker, 'verifier_proxies[0]', claims)));
    for (const jti of jtis) {
      const accepted = [...first, ...second].filter((outcome, index) => outcome === true && claims[index % claims.length] === jti);
      expect({ jti, accepted: accepted.length }).toEqual({ jti, accepted: 1 });
    }
  });

  test('claims made in one event-loop turn travel in one IPC message', async () => {
    const batches: number[] = [];
    const count = (message: unknown): void => {
      if (isClusterMessage(message) && message.jwtproxy === 'nonce-claim') batches.push(message.jtis.length);
    };
    workers[0].on('message', count);
    await claimIn(
      workers[0],
      'verifier_proxies[0]',
      Array.from({ length: 500 }, (_, i) => `batch-${i}`),
    );
    workers[0].off('message', count);
    expect(batches).toEqual([500]);
  });

  test('stores are kept apart by their id', async () => {
    expect(await claimIn(workers[0], 'verifier_proxies[0]', ['apart'])).toEqual([true]);
    expect(await claimIn(workers[1], 'verifier_proxies[1]', ['apart'])).toEqual([true]);
  });

  test('a full store in the primary refuses the worker’s claim with its reason', async () => {
    const outcomes = await claimIn(workers[1], 'verifier_proxies[1]', ['full-1', 'full-2', 'full-3']);
    expect(outcomes.filter((outcome) => outcome === true)).toHaveLength(1);
    expect(outcomes[2]).toEqual({ code: 'ERR_NONCE_STORE_UNAVAILABLE', message: expect.stringMatching(/verifier_proxies\[1\].*full/) });
  });

  test('a store the primary does not host refuses claims', async () => {
    const [outcome] = await claimIn(workers[0], 'verifier_proxies[9]', ['unknown']);
    expect(outcome).toEqual({ code: 'ERR_NONCE_STORE_UNAVAILABLE', message: expect.stringMatching(/no local nonce store named "verifier_proxies\[9\]"/) });
  });
});

describe('SharedNonceStore when the primary fails', () => {
  let primary: ChildProcess;

  beforeEach(async () => {
    primary = fork(path.join(fixtures, 'mutePrimary.js'), [], { execArgv: [] });
    await nextMessage(primary, 'ready');
  });

  afterEach(() => {
    primary.kill('SIGKILL');
  });

  function clientOf(primaryProcess: ChildProcess, answerTimeoutMs = 2000): SharedNonceStore {
    return new SharedNonceStore({ id: 'verifier_proxies[0]', channel: new PrimaryChannel(primaryProcess, silentLogger), answerTimeoutMs, logger: silentLogger });
  }

  test('refuses claims the primary does not answer in time', async () => {
    const store = clientOf(primary, 100);
    await store.start();
    await expect(store.claim('a', expiresAtMs)).rejects.toThrow(NonceStoreUnavailableError);
    await store.stop();
  });

  test('refuses waiting claims when the primary dies', async () => {
    const store = clientOf(primary);
    await store.start();
    const waiting = store.claim('a', expiresAtMs);
    await new Promise((resolve) => setImmediate(resolve));
    primary.kill('SIGKILL');
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE', message: expect.stringMatching(/primary process is gone/) });
    await store.stop();
  });

  test('refuses new claims at once after the primary died', async () => {
    const store = clientOf(primary);
    await store.start();
    const disconnected = new Promise((resolve) => primary.once('disconnect', resolve));
    primary.kill('SIGKILL');
    await disconnected;
    await expect(store.claim('a', expiresAtMs)).rejects.toMatchObject({ message: expect.stringMatching(/primary process is gone/) });
    await store.stop();
  });

  test('refuses claims before start and after stop', async () => {
    const store = clientOf(primary);
    await expect(store.claim('a', expiresAtMs)).rejects.toThrow(/not started/);
    await store.start();
    const waiting = store.claim('b', expiresAtMs);
    await store.stop();
    await expect(waiting).rejects.toThrow(/stopped/);
  });
});
