// Key storage in one JSON file (mode 0600), written atomically (temp file + rename) under a
// lock file, and re-read whenever it changed on disk, so `jwtproxy registry approve` run
// against the same file is seen by a running registry at its next request.
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { KeyStorageError, type KeyChange, type KeyStorage } from './KeyStorage';
import { parseRegisteredKey, type RegisteredKey } from './RegisteredKey';

// Another writer holds the lock for a few milliseconds; one that holds it this long has died.
const STALE_LOCK_MS = 10_000;
const LOCK_TIMEOUT_MS = 5_000;
const LOCK_RETRY_MS = 10;

type KeyMap = Map<string, RegisteredKey>;

const idOf = (service: string, kid: string): string => JSON.stringify([service, kid]);

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class FileKeyStorage implements KeyStorage {
  private readonly lockPath: string;
  /** The keys as last read or written, and the file identity (inode, size, mtime) they came from. */
  private cache?: { stamp: string; keys: KeyMap };
  /** Serialises this process's updates, so they queue here rather than spin on the lock file. */
  private updates: Promise<unknown> = Promise.resolve();

  constructor(private readonly filePath: string) {
    this.lockPath = `${filePath}.lock`;
  }

  async start(): Promise<void> {
    try {
      await fs.access(path.dirname(this.filePath), fsConstants.W_OK);
    } catch (error) {
      throw new KeyStorageError(`cannot write the key registry file in ${path.dirname(this.filePath)}: ${(error as Error).message}`, { cause: error });
    }
    await this.load();
  }

  async stop(): Promise<void> {
    await this.updates.catch(() => undefined);
  }

  async get(service: string, kid: string): Promise<RegisteredKey | undefined> {
    return (await this.load()).get(idOf(service, kid));
  }

  async list(service?: string): Promise<RegisteredKey[]> {
    const keys = [...(await this.load()).values()];
    return service === undefined ? keys : keys.filter((key) => key.service === service);
  }

  update(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined> {
    const result = this.updates.then(() => this.updateLocked(service, kid, change));
    this.updates = result.catch(() => undefined);
    return result;
  }

  private async updateLocked(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined> {
    await this.lock();
    try {
      const keys = await this.load();
      const id = idOf(service, kid);
      const current = keys.get(id);
      const next = change(current);
      if (next === undefined) return current;
      if (next === null && !current) return undefined;
      const updated = new Map(keys);
      if (next === null) updated.delete(id);
      else updated.set(id, next);
      await this.write(updated);
      return next ?? undefined;
    } finally {
      await fs.rm(this.lockPath, { force: true });
    }
  }

  /** The keys in the file, read again only when the file changed since the last read. */
  private async load(): Promise<KeyMap> {
    let stamp: string;
    try {
      const stat = await fs.stat(this.filePath);
      stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw new KeyStorageError(`cannot read the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
      stamp = 'absent';
    }
    if (this.cache?.stamp === stamp) return this.cache.keys;
    const keys = stamp === 'absent' ? new Map() : await this.read();
    this.cache = { stamp, keys };
    return keys;
  }

  private async read(): Promise<KeyMap> {
    let text: string;
    try {
      text = await fs.readFile(this.filePath, 'utf8');
    } catch (error) {
      // Replaced by a writer between stat and read: an empty map now, the new file next time.
      if (errorCode(error) === 'ENOENT') return new Map();
      throw new KeyStorageError(`cannot read the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const document = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(document?.keys)) throw new Error('it has no "keys" list');
      const keys: KeyMap = new Map();
      for (const value of document.keys) {
        const key = parseRegisteredKey(value);
        keys.set(idOf(key.service, key.kid), key);
      }
      return keys;
    } catch (error) {
      throw new KeyStorageError(`the key registry file ${this.filePath} is corrupt: ${(error as Error).message}`, { cause: error });
    }
  }

  private async write(keys: KeyMap): Promise<void> {
    const sorted = [...keys.values()].sort((a, b) => a.service.localeCompare(b.service) || a.createdAt - b.createdAt || a.kid.localeCompare(b.kid));
    const text = `${JSON.stringify({ version: 1, keys: sorted }, null, 2)}\n`;
    const temporary = `${this.filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const file = await fs.open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await fs.rename(temporary, this.filePath);
      const stat = await fs.stat(this.filePath);
      this.cache = { stamp: `${stat.ino}:${stat.size}:${stat.mtimeMs}`, keys };
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw new KeyStorageError(`cannot write the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Takes the lock file shared with other processes (another registry, the CLI). */
  private async lock(): Promise<void> {
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        const file = await fs.open(this.lockPath, 'wx', 0o600);
        await file.writeFile(String(process.pid));
        await file.close();
        return;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw new KeyStorageError(`cannot create the lock file ${this.lockPath}: ${(error as Error).message}`, { cause: error });
      }
      const stat = await fs.stat(this.lockPath).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > STALE_LOCK_MS) {
        await fs.rm(this.lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new KeyStorageError(`the lock file ${this.lockPath} has been held for over ${LOCK_TIMEOUT_MS / 1000}s; remove it if no registry or CLI is running`);
      }
      await sleep(LOCK_RETRY_MS);
    }
  }
}
