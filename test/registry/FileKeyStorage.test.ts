// The file storage: a JSON snapshot and a journal of JSON lines, private; a change is one appended
// line, folded into the snapshot now and then; what another process wrote is seen at the next read.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/observability/logger';
import { FileKeyStorage } from '../../src/registry/FileKeyStorage';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import type { RegisteredKey } from '../../src/registry/RegisteredKey';
import { eventually } from '../support/eventually';
import { within } from '../support/within';

const key: RegisteredKey = {
  service: 'svc',
  kid: 'k',
  jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' },
  state: 'pending',
  expiresAt: null,
  rotationSeconds: null,
  createdAt: 1_795_000_000_000,
  approvedAt: null,
  revokeAt: null,
};

let directory: string;
let file: string;
let storage: FileKeyStorage;

beforeEach(async () => {
  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'registry-file-'));
  file = path.join(directory, 'keys.json');
  storage = new FileKeyStorage(file);
  await storage.start();
});

afterEach(async () => {
  await storage.stop();
  await fs.rm(directory, { recursive: true, force: true });
});

/** A record of its own kid, all of one size. */
const recordOf = (service: string, kid: string): RegisteredKey => ({ ...key, service, kid, jwk: { ...key.jwk, kid } });

const journalLines = async (): Promise<unknown[]> =>
  (await fs.readFile(`${file}.journal`, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));

test('the snapshot and the journal are created with mode 0600', async () => {
  await storage.update('svc', 'k', () => key);
  expect((await fs.stat(`${file}.journal`)).mode & 0o777).toBe(0o600);
  await storage.stop();
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
});

test('a change is one line appended to the journal; the snapshot is not rewritten', async () => {
  await storage.update('svc', 'a', () => recordOf('svc', 'a'));
  await storage.stop();
  storage = new FileKeyStorage(file);
  await storage.start();
  const snapshot = await fs.stat(file);
  await storage.update('svc', 'b', () => recordOf('svc', 'b'));
  await storage.update('svc', 'a', () => null);
  expect(await journalLines()).toEqual([
    { generation: 1, set: recordOf('svc', 'b') },
    { generation: 1, delete: { service: 'svc', kid: 'a' } },
  ]);
  expect(await fs.stat(file)).toMatchObject({ ino: snapshot.ino, size: snapshot.size, mtimeMs: snapshot.mtimeMs });
});

test('stop folds the journal into the snapshot: at rest the file holds the keys as JSON, one key a line', async () => {
  await storage.update('svc', 'k', () => key);
  await storage.stop();
  const text = await fs.readFile(file, 'utf8');
  expect(JSON.parse(text)).toEqual({ version: 1, generation: 1, keys: [key] });
  expect(text.split('\n')).toContain(JSON.stringify(key));
  expect(await fs.readdir(directory)).toEqual(['keys.json']);
});

test('a snapshot written by an earlier version (no generation, no journal) is read', async () => {
  await fs.writeFile(file, JSON.stringify({ version: 1, keys: [key] }, null, 2));
  expect(await storage.get('svc', 'k')).toEqual(key);
});

test('no temporary or lock file is left behind', async () => {
  await storage.update('svc', 'k', () => key);
  await storage.update('svc', 'k', () => ({ ...key, state: 'approved' }));
  expect((await fs.readdir(directory)).sort()).toEqual(['keys.json.journal']);
});

test('a change another process appended to the journal is seen at the next read', async () => {
  const other = new FileKeyStorage(file);
  await other.start();
  try {
    await storage.update('svc', 'k', () => key);
    expect((await other.get('svc', 'k'))!.state).toBe('pending');
    await storage.update('svc', 'k', () => ({ ...key, state: 'approved' }));
    expect((await other.get('svc', 'k'))!.state).toBe('approved');
  } finally {
    await other.stop();
  }
});

test('a snapshot another process wrote is seen at the next read', async () => {
  await storage.update('svc', 'k', () => key);
  await storage.stop();
  storage = new FileKeyStorage(file);
  await storage.start();
  await storage.get('svc', 'k');
  const document = JSON.parse(await fs.readFile(file, 'utf8'));
  document.keys[0].state = 'approved';
  await fs.writeFile(file, JSON.stringify(document));
  expect((await storage.get('svc', 'k'))!.state).toBe('approved');
});

test('journal lines of an older generation (a fold cut short by a crash) are already in the snapshot: ignored, then folded away', async () => {
  await fs.writeFile(file, JSON.stringify({ version: 1, generation: 2, keys: [{ ...key, state: 'approved' }] }));
  await fs.writeFile(`${file}.journal`, `${JSON.stringify({ generation: 1, set: key })}\n`);
  expect((await storage.get('svc', 'k'))!.state).toBe('approved');
  await storage.update('svc', 'other', () => recordOf('svc', 'other'));
  expect(await journalLines()).toEqual([{ generation: 3, set: recordOf('svc', 'other') }]);
  expect((await storage.get('svc', 'k'))!.state).toBe('approved');
});

test('a last journal line cut short (power lost mid-append) is ignored, and the next append replaces it', async () => {
  await storage.update('svc', 'a', () => recordOf('svc', 'a'));
  await fs.appendFile(`${file}.journal`, '{"generation":0,"set":{"serv');
  const other = new FileKeyStorage(file);
  await other.start();
  try {
    expect(await other.list()).toEqual([recordOf('svc', 'a')]);
    await other.update('svc', 'b', () => recordOf('svc', 'b'));
    expect((await journalLines()).length).toBe(2);
  } finally {
    await other.stop();
  }
});

test('a corrupt journal line is a KeyStorageError naming the journal', async () => {
  await fs.writeFile(`${file}.journal`, '{"generation":0,"set":{"service":1}}\n');
  await expect(storage.get('svc', 'k')).rejects.toThrow(KeyStorageError);
  await expect(storage.get('svc', 'k')).rejects.toThrow(`${file}.journal`);
});

/** Bytes this process has handed to write(2) and its kin since it started (Linux accounting, every file). */
async function bytesWritten(): Promise<number> {
  return Number(/^wchar: (\d+)$/m.exec(await fs.readFile('/proc/self/io', 'utf8'))![1]);
}

test('the bytes an update writes do not grow with the number of stored keys, folds into the snapshot included', async () => {
  // One service per stored key, kids of one length: every record and journal line has one size.
  const seeded = (count: number): RegisteredKey[] => Array.from({ length: count }, (_, i) => recordOf(`s${String(i).padStart(5, '0')}`, `k${String(i).padStart(5, '0')}`));
  const line = Buffer.byteLength(`${JSON.stringify({ generation: 0, set: recordOf('svc', 'n00000') })}\n`);
  async function bytesPerUpdate(stored: number, updates: number): Promise<{ bytes: number; folds: number }> {
    const seededFile = path.join(directory, `seeded-${stored}.json`);
    await fs.writeFile(seededFile, JSON.stringify({ version: 1, keys: seeded(stored) }));
    const seededStorage = new FileKeyStorage(seededFile);
    await seededStorage.start();
    const before = await bytesWritten();
    for (let i = 0; i < updates; i++) {
      const kid = `n${String(i).padStart(5, '0')}`;
      await seededStorage.update('svc', kid, () => recordOf('svc', kid));
    }
    const bytes = (await bytesWritten()) - before;
    // Each fold wrote the snapshot of the next generation; the seeded one is generation 0.
    const { generation } = JSON.parse(await fs.readFile(seededFile, 'utf8'));
    await seededStorage.stop();
    return { bytes: bytes / updates, folds: generation };
  }
  const few = await bytesPerUpdate(20, 300);
  // 800 updates onto 600 keys: the journal outgrows the snapshot, which is folded once.
  const many = await bytesPerUpdate(600, 800);
  expect(few.folds).toBeGreaterThanOrEqual(1);
  expect(many.folds).toBeGreaterThanOrEqual(1);
  // The line, the lock file, and the folds spread over the lines that caused them (about 2.5 lines
  // here, with 20 or 600 keys alike); rewriting the file on every update wrote `stored` records.
  expect(few.bytes).toBeLessThan(4 * line);
  expect(many.bytes).toBeLessThan(4 * line);
});

test('a corrupt file is a KeyStorageError naming the file', async () => {
  await fs.writeFile(file, '{"keys": [{"service": 1}]}');
  await expect(storage.get('svc', 'k')).rejects.toThrow(KeyStorageError);
  await expect(storage.get('svc', 'k')).rejects.toThrow(file);
});

test('a failing file is logged when the failures start and when they end, with their count, not per operation', async () => {
  const lines: { level: string; msg: string; refusedOperations?: number }[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
  const logged = new FileKeyStorage(file, logger);
  await logged.start();
  await fs.writeFile(file, 'keys: []');
  for (let i = 0; i < 20; i++) await expect(logged.get('svc', 'k')).rejects.toThrow(KeyStorageError);
  expect(lines).toEqual([expect.objectContaining({ level: 'error', msg: 'key registry storage cannot use its file: answering 503 until it can' })]);
  await fs.writeFile(file, JSON.stringify({ version: 1, keys: [] }));
  expect(await logged.get('svc', 'k')).toBeUndefined();
  expect(lines[1]).toMatchObject({ level: 'info', msg: 'key registry storage can use its file again', refusedOperations: 20 });
  await logged.stop();
});

test('a file that is not JSON is a KeyStorageError', async () => {
  await fs.writeFile(file, 'keys: []');
  await expect(storage.list()).rejects.toThrow(/corrupt/);
});

test('start fails when the folder does not exist', async () => {
  await expect(new FileKeyStorage(path.join(directory, 'missing', 'keys.json')).start()).rejects.toThrow(KeyStorageError);
});

describe('after a registry process was killed with SIGKILL', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  /** Runs the crash fixture until it stops dead at `point`; resolves with a function that kills it. */
  async function crashingAt(point: 'update' | 'fold'): Promise<() => Promise<void>> {
    const marker = path.join(directory, 'marker');
    const running = spawn(process.execPath, [path.join(__dirname, '../fixtures/processes/fileStorageCrash.js'), file, marker, point], { stdio: ['ignore', 'ignore', 'inherit'] });
    child = running;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    await eventually(async () => (await fs.stat(marker).catch(() => undefined)) !== undefined || running.exitCode !== null, 'the child to reach its crash point', 20_000);
    expect(running.exitCode).toBeNull();
    await fs.rm(marker);
    return async () => {
      running.kill('SIGKILL');
      await exited;
    };
  }

  test('a lock held by a live process is waited for, and taken over as soon as that process is dead', async () => {
    const kill = await crashingAt('update');
    expect(await fs.readFile(`${file}.lock`, 'utf8')).toMatch(new RegExp(`^${child!.pid} `));
    let done = false;
    const update = storage.update('svc', 'k', () => key).finally(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    await kill();
    await within(update, 1000, 'the update once the lock holder is dead');
    expect(await storage.get('svc', 'k')).toEqual(key);
    expect(await fs.readdir(directory)).not.toContain('keys.json.lock');
  }, 30_000);

  test('temporary files of a fold cut short are removed at start; the lines appended before are kept', async () => {
    const kill = await crashingAt('fold');
    await kill();
    expect((await fs.readdir(directory)).filter((name) => name.endsWith('.tmp'))).toHaveLength(1);
    const restarted = new FileKeyStorage(file);
    await within(restarted.start(), 1000, 'start with the lock and temp file of a dead process');
    try {
      expect((await fs.readdir(directory)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect((await restarted.get('svc', 'crashed'))!.kid).toBe('crashed');
      // The dead process still "holds" the lock: it is taken over at once.
      await within(
        restarted.update('svc', 'k', () => key),
        1000,
        'an update',
      );
    } finally {
      await restarted.stop();
    }
  }, 30_000);
});

test('temporary files of a live process are left alone', async () => {
  const live = `${file}.${process.pid}.0123456789ab.tmp`;
  await fs.writeFile(live, 'a fold in progress');
  const other = new FileKeyStorage(file);
  await other.start();
  await other.stop();
  expect(await fs.readdir(directory)).toContain(path.basename(live));
});

test('a lock left by a process on this host that is not running is taken over at once', async () => {
  await fs.writeFile(`${file}.lock`, `999999999 ${os.hostname()}\n`);
  await within(
    storage.update('svc', 'k', () => key),
    1000,
    'the update',
  );
  expect(await storage.get('svc', 'k')).toEqual(key);
});

test('a lock of another host, held for long, is broken (its process cannot be checked)', async () => {
  await fs.writeFile(`${file}.lock`, '4242 another-host\n');
  const longAgo = new Date(Date.now() - 60_000);
  await fs.utimes(`${file}.lock`, longAgo, longAgo);
  await storage.update('svc', 'k', () => key);
  expect(await storage.get('svc', 'k')).toEqual(key);
});
