// The file storage: one JSON file, private, replaced atomically, re-read when someone else changed it.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileKeyStorage } from '../../src/registry/FileKeyStorage';
import { KeyStorageError } from '../../src/registry/KeyStorage';
import type { RegisteredKey } from '../../src/registry/RegisteredKey';

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

test('the file is created with mode 0600', async () => {
  await storage.update('svc', 'k', () => key);
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
});

test('the file holds the keys as JSON', async () => {
  await storage.update('svc', 'k', () => key);
  expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual({ version: 1, keys: [key] });
});

test('no temporary or lock file is left behind', async () => {
  await storage.update('svc', 'k', () => key);
  await storage.update('svc', 'k', () => ({ ...key, state: 'approved' }));
  expect(await fs.readdir(directory)).toEqual(['keys.json']);
});

test('a change written by another program is seen at the next read', async () => {
  await storage.update('svc', 'k', () => key);
  await storage.get('svc', 'k');
  const document = JSON.parse(await fs.readFile(file, 'utf8'));
  document.keys[0].state = 'approved';
  await fs.writeFile(file, JSON.stringify(document));
  expect((await storage.get('svc', 'k'))!.state).toBe('approved');
});

test('a corrupt file is a KeyStorageError naming the file', async () => {
  await fs.writeFile(file, '{"keys": [{"service": 1}]}');
  await expect(storage.get('svc', 'k')).rejects.toThrow(KeyStorageError);
  await expect(storage.get('svc', 'k')).rejects.toThrow(file);
});

test('a file that is not JSON is a KeyStorageError', async () => {
  await fs.writeFile(file, 'keys: []');
  await expect(storage.list()).rejects.toThrow(/corrupt/);
});

test('start fails when the folder does not exist', async () => {
  await expect(new FileKeyStorage(path.join(directory, 'missing', 'keys.json')).start()).rejects.toThrow(KeyStorageError);
});

test('a lock left by a dead process is broken', async () => {
  await fs.writeFile(`${file}.lock`, '99999');
  const longAgo = new Date(Date.now() - 60_000);
  await fs.utimes(`${file}.lock`, longAgo, longAgo);
  await storage.update('svc', 'k', () => key);
  expect(await storage.get('svc', 'k')).toEqual(key);
});
