// Key storage in plain JSON files (mode 0600): a snapshot, <path>, and a journal of the changes
// since, <path>.journal, one JSON object per line. An update takes the lock file, appends one line
// and fsyncs it, so it costs one append however many keys there are. Once the journal has grown
// as large as the snapshot (and past COMPACTION_MIN_BYTES), and when a process that wrote stops,
// the journal is folded into a new snapshot (temp file, fsync, rename) of the next generation and
// removed. Readers take no lock: they re-read the snapshot when it was replaced and only the new
// journal lines otherwise, so `jwtproxy registry approve` is seen by a running registry at its next request.
//
// Every line names the snapshot generation it follows: lines of an older one were folded already
// (a fold cut short by a crash between the rename and the removal), lines of a newer one mean the
// snapshot was replaced while it was read. The journal is removed only by a fold, which replaces
// the snapshot first: while a reader's snapshot is unchanged, its journal only grew.
//
// After a crash (kill -9): the lock file names its holder's pid and host, and a lock whose process
// is no longer running on this host is taken over at once (a lock of another host, or of a pid
// reused since, only after STALE_LOCK_MS without change); temp files of processes no longer
// running are removed at start.
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants, type Stats } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger, type Logger } from '../observability/logger';
import { KeyStorageError, type KeyChange, type KeyStorage } from './KeyStorage';
import { parseRegisteredKey, type RegisteredKey } from './RegisteredKey';
import { StorageOutage } from './StorageOutage';

// Another writer holds the lock for a few milliseconds; one that holds it this long has died.
const STALE_LOCK_MS = 10_000;
const LOCK_TIMEOUT_MS = 5_000;
const LOCK_RETRY_MS = 10;
/** A journal shorter than this is never folded: small registries rewrite their snapshot rarely. */
const COMPACTION_MIN_BYTES = 64 * 1024;
/** Reads of snapshot and journal that another process keeps replacing under the reader: then it gives up. */
const MAX_READ_ATTEMPTS = 5;

type KeyMap = Map<string, Map<string, RegisteredKey>>;

/** What this process knows of the files: the keys, and where in the files they were read up to. */
interface View {
  keys: KeyMap;
  generation: number;
  /** inode:size:mtime of the snapshot read, or 'absent'. */
  snapshotStamp: string;
  snapshotBytes: number;
  /** The journal read (its inode), up to the end of its last whole line; undefined: there was none. */
  journal?: { ino: number; offset: number };
  /** The journal holds lines of an older generation: it is folded before the next append. */
  staleJournal: boolean;
}

type JournalEntry = { generation: number; set: RegisteredKey } | { generation: number; delete: { service: string; kid: string } };

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a process of this host is running (or exists under another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

/** `<pid> <host>`, as lock() writes it; undefined for anything else (an older version wrote the pid alone). */
function lockHolder(text: string): { pid: number; host: string } | undefined {
  const match = /^(\d+) (\S+)\n?$/.exec(text);
  return match ? { pid: Number(match[1]), host: match[2] } : undefined;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const stampOf = (stat: Stats | undefined): string => (stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'absent');

async function statOf(file: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function setKey(keys: KeyMap, key: RegisteredKey): void {
  const service = keys.get(key.service);
  if (service) service.set(key.kid, key);
  else keys.set(key.service, new Map([[key.kid, key]]));
}

function deleteKey(keys: KeyMap, serviceName: string, kid: string): void {
  const service = keys.get(serviceName);
  service?.delete(kid);
  if (service?.size === 0) keys.delete(serviceName);
}

function parseJournalEntry(text: string): JournalEntry {
  const value = JSON.parse(text) as Record<string, unknown> | null;
  if (value === null || typeof value !== 'object' || !Number.isInteger(value.generation)) throw new Error('a line has no "generation"');
  const generation = value.generation as number;
  if (value.set !== undefined) return { generation, set: parseRegisteredKey(value.set) };
  const target = value.delete as Record<string, unknown> | undefined;
  if (typeof target?.service !== 'string' || typeof target.kid !== 'string') throw new Error('a line is neither a "set" nor a "delete" of a service and kid');
  return { generation, delete: { service: target.service, kid: target.kid } };
}

/** The snapshot's text: one key a line, so it stays readable and greppable. */
function snapshotText(keys: KeyMap, generation: number): string {
  const sorted = [...keys.values()].flatMap((service) => [...service.values()]).sort((a, b) => a.service.localeCompare(b.service) || a.createdAt - b.createdAt || a.kid.localeCompare(b.kid));
  const lines = sorted.map((key) => JSON.stringify(key));
  return `{"version":1,"generation":${generation},"keys":[${lines.length ? `\n${lines.join(',\n')}\n` : ''}]}\n`;
}

export class FileKeyStorage implements KeyStorage {
  private readonly journalPath: string;
  private readonly lockPath: string;
  private view?: View;
  /** Serialises this process's reads of the files; a read asked for while one waits joins it. */
  private reads: Promise<unknown> = Promise.resolve();
  private queuedRead?: Promise<View>;
  /** Serialises this process's updates, so they queue here rather than spin on the lock file. */
  private updates: Promise<unknown> = Promise.resolve();
  /** This process appended to the journal: it folds it when it stops. */
  private appended = false;
  private readonly outage: StorageOutage;

  constructor(
    private readonly filePath: string,
    private readonly logger: Logger = silentLogger,
  ) {
    this.journalPath = `${filePath}.journal`;
    this.lockPath = `${filePath}.lock`;
    this.outage = new StorageOutage(logger, {
      down: 'key registry storage cannot use its file: answering 503 until it can',
      up: 'key registry storage can use its file again',
    });
  }

  async start(): Promise<void> {
    try {
      await fs.access(path.dirname(this.filePath), fsConstants.W_OK);
    } catch (error) {
      throw new KeyStorageError(`cannot write the key registry file in ${path.dirname(this.filePath)}: ${(error as Error).message}`, { cause: error });
    }
    await this.removeDeadTemporaryFiles();
    const view = await this.load();
    if (view.staleJournal || this.compactionDue(view)) await this.exclusive(() => this.compactLocked());
  }

  async stop(): Promise<void> {
    await this.updates.catch(() => undefined);
    if (this.appended) await this.exclusive(() => this.compactLocked());
  }

  async get(service: string, kid: string): Promise<RegisteredKey | undefined> {
    return (await this.reported(this.load())).keys.get(service)?.get(kid);
  }

  async list(service?: string): Promise<RegisteredKey[]> {
    const { keys } = await this.reported(this.load());
    if (service !== undefined) return [...(keys.get(service)?.values() ?? [])];
    return [...keys.values()].flatMap((serviceKeys) => [...serviceKeys.values()]);
  }

  update(service: string, kid: string, change: KeyChange): Promise<RegisteredKey | undefined> {
    return this.reported(
      this.exclusive(async () => {
        let view = await this.load();
        if (view.staleJournal) {
          await this.compactLocked();
          view = await this.load();
        }
        const serviceKeys = view.keys.get(service);
        const current = serviceKeys?.get(kid);
        // Under the lock, from the files as they are now: what `change` sees of the service stays true until the append.
        const next = change(current, serviceKeys ? [...serviceKeys.values()].filter((key) => key.kid !== kid) : []);
        if (next === undefined) return current;
        if (next === null && !current) return undefined;
        await this.append(view, next === null ? { generation: view.generation, delete: { service, kid } } : { generation: view.generation, set: next });
        // Read back through the journal, as any reader would: the view stays one with the files.
        const updated = await this.load();
        if (this.compactionDue(updated)) await this.compactLocked();
        return next ?? undefined;
      }),
    );
  }

  /** Counts a storage failure into the outage, and ends it on success; what `change` throws is no failure. */
  private async reported<T>(operation: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await operation;
    } catch (error) {
      if (error instanceof KeyStorageError) this.outage.refusedOperation(error);
      throw error;
    }
    if (this.outage.ongoing) this.outage.up();
    return result;
  }

  /** Runs `work` holding the lock file, after this process's earlier updates. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.updates.then(async () => {
      await this.lock();
      try {
        return await work();
      } finally {
        await fs.rm(this.lockPath, { force: true });
      }
    });
    this.updates = result.catch(() => undefined);
    return result;
  }

  private compactionDue(view: View): boolean {
    return view.journal !== undefined && view.journal.offset >= Math.max(COMPACTION_MIN_BYTES, view.snapshotBytes);
  }

  /** Appends one line and makes it durable before the update resolves. */
  private async append(view: View, entry: JournalEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    try {
      const created = view.journal === undefined;
      const file = await fs.open(this.journalPath, 'a', 0o600);
      try {
        // A last line cut short (the power went mid-append) goes, or the new line would join it.
        if (!created && (await file.stat()).size > view.journal!.offset) await file.truncate(view.journal!.offset);
        await file.write(line);
        await file.datasync();
      } finally {
        await file.close();
      }
      if (created) await this.syncDirectory();
      this.appended = true;
    } catch (error) {
      throw new KeyStorageError(`cannot write the key registry journal ${this.journalPath}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Folds the journal into a snapshot of the next generation, then removes it. Holds the lock. */
  private async compactLocked(): Promise<void> {
    const view = await this.load();
    if (view.journal === undefined && !view.staleJournal) return;
    const temporary = `${this.filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const file = await fs.open(temporary, 'wx', 0o600);
      try {
        await file.writeFile(snapshotText(view.keys, view.generation + 1), 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await fs.rename(temporary, this.filePath);
      await this.syncDirectory();
      // Left behind by a crash here, its lines are of the older generation: ignored, removed later.
      await fs.rm(this.journalPath, { force: true });
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw new KeyStorageError(`cannot write the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    }
    this.appended = false;
    await this.load();
  }

  /** Temp files (`<path>.<pid>.<random>.tmp`, `<path>.lock.<pid>.<random>.tmp`) of processes that no longer run. */
  private async removeDeadTemporaryFiles(): Promise<void> {
    const directory = path.dirname(this.filePath);
    const pattern = new RegExp(`^${escapeRegExp(path.basename(this.filePath))}(?:\\.lock)?\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`);
    const removed: string[] = [];
    for (const name of await fs.readdir(directory)) {
      const match = pattern.exec(name);
      if (!match || isRunning(Number(match[1]))) continue;
      await fs.rm(path.join(directory, name), { force: true });
      removed.push(name);
    }
    if (removed.length > 0) this.logger.warn({ directory, files: removed }, 'removed temporary files of the key registry file left by processes that died');
  }

  /** A rename or a new file is durable once the directory holding it is synced. */
  private async syncDirectory(): Promise<void> {
    const directory = await fs.open(path.dirname(this.filePath), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** The keys as the files hold them now. */
  private load(): Promise<View> {
    // A read that has not started yet sees everything written before this call: share it.
    if (this.queuedRead) return this.queuedRead;
    const read = this.reads.then(() => {
      this.queuedRead = undefined;
      return this.refresh();
    });
    this.queuedRead = read;
    this.reads = read.catch(() => undefined);
    return read;
  }

  private async refresh(): Promise<View> {
    const view = this.view;
    try {
      if (view && view.snapshotStamp === stampOf(await statOf(this.filePath))) {
        const journal = await statOf(this.journalPath);
        if (!journal && !view.journal) return view;
        if (journal && (!view.journal || (journal.ino === view.journal.ino && journal.size >= view.journal.offset))) {
          if (view.journal && journal.size === view.journal.offset) return view;
          if (await this.readJournalTail(view, journal.ino)) return view;
        }
      }
    } catch (error) {
      if (error instanceof KeyStorageError) throw error;
      throw new KeyStorageError(`cannot read the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    }
    this.view = await this.readAll();
    return this.view;
  }

  /** Applies the lines appended since the view was read; false when the journal is not the one read, or follows another snapshot. */
  private async readJournalTail(view: View, ino: number): Promise<boolean> {
    let file;
    try {
      file = await fs.open(this.journalPath, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw error;
    }
    try {
      const stat = await file.stat();
      if (stat.ino !== ino) return false;
      const offset = view.journal?.ino === ino ? view.journal.offset : 0;
      const { buffer, bytesRead } = await file.read({ buffer: Buffer.alloc(Math.max(0, stat.size - offset)), position: offset });
      const text = buffer.subarray(0, bytesRead).toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      for (const entry of this.parseJournal(text.slice(0, end), offset)) {
        if (entry.generation !== view.generation) return false;
        this.apply(view.keys, entry);
      }
      view.journal = { ino, offset: offset + Buffer.byteLength(text.slice(0, end)) };
      return true;
    } finally {
      await file.close();
    }
  }

  private async readAll(): Promise<View> {
    for (let attempt = 0; attempt < MAX_READ_ATTEMPTS; attempt++) {
      const view = await this.readSnapshot();
      if (view === undefined) continue;
      const journal = await this.readJournal();
      let newer = false;
      if (journal) {
        for (const entry of journal.entries) {
          if (entry.generation < view.generation) view.staleJournal = true;
          else if (entry.generation > view.generation) newer = true;
          else this.apply(view.keys, entry);
        }
        view.journal = { ino: journal.ino, offset: journal.offset };
      }
      // A fold between the two reads: the journal read may follow the next snapshot, or be gone.
      if (newer || stampOf(await statOf(this.filePath)) !== view.snapshotStamp) continue;
      return view;
    }
    throw new KeyStorageError(`the key registry file ${this.filePath} kept changing while it was read; retry`);
  }

  /** The snapshot as a view without journal; undefined when it was replaced between open and read. */
  private async readSnapshot(): Promise<View | undefined> {
    let file;
    try {
      file = await fs.open(this.filePath, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return { keys: new Map(), generation: 0, snapshotStamp: 'absent', snapshotBytes: 0, staleJournal: false };
      throw new KeyStorageError(`cannot read the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    }
    let stat: Stats;
    let text: string;
    try {
      stat = await file.stat();
      text = await file.readFile('utf8');
    } catch (error) {
      throw new KeyStorageError(`cannot read the key registry file ${this.filePath}: ${(error as Error).message}`, { cause: error });
    } finally {
      await file.close();
    }
    // Rewritten in place while it was read (a person editing it): read it again.
    if (Buffer.byteLength(text) !== stat.size) return undefined;
    try {
      const document = JSON.parse(text) as { keys?: unknown; generation?: unknown };
      if (!Array.isArray(document?.keys)) throw new Error('it has no "keys" list');
      if (document.generation !== undefined && !Number.isInteger(document.generation)) throw new Error('its "generation" is not a whole number');
      const keys: KeyMap = new Map();
      for (const value of document.keys) setKey(keys, parseRegisteredKey(value));
      return { keys, generation: (document.generation as number | undefined) ?? 0, snapshotStamp: stampOf(stat), snapshotBytes: stat.size, staleJournal: false };
    } catch (error) {
      throw new KeyStorageError(`the key registry file ${this.filePath} is corrupt: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The journal's whole lines; undefined when there is none. */
  private async readJournal(): Promise<{ entries: JournalEntry[]; ino: number; offset: number } | undefined> {
    let file;
    try {
      file = await fs.open(this.journalPath, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw new KeyStorageError(`cannot read the key registry journal ${this.journalPath}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const { ino } = await file.stat();
      const text = await file.readFile('utf8');
      // A last line without its newline is being appended (or was cut short): not read yet.
      const whole = text.slice(0, text.lastIndexOf('\n') + 1);
      return { entries: this.parseJournal(whole, 0), ino, offset: Buffer.byteLength(whole) };
    } finally {
      await file.close();
    }
  }

  private parseJournal(text: string, offset: number): JournalEntry[] {
    const entries: JournalEntry[] = [];
    let position = offset;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        entries.push(parseJournalEntry(line));
      } catch (error) {
        throw new KeyStorageError(`the key registry journal ${this.journalPath} is corrupt at byte ${position}: ${(error as Error).message}`, { cause: error });
      }
      position += Buffer.byteLength(line) + 1;
    }
    return entries;
  }

  private apply(keys: KeyMap, entry: JournalEntry): void {
    if ('set' in entry) setKey(keys, entry.set);
    else deleteKey(keys, entry.delete.service, entry.delete.kid);
  }

  /**
   * Takes the lock file shared with other processes (another registry, the CLI). It is created
   * whole, holder and all (written aside, then hard-linked into place), so a reader never sees
   * it empty.
   */
  private async lock(): Promise<void> {
    const holder = `${process.pid} ${os.hostname()}\n`;
    const temporary = `${this.lockPath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    try {
      await fs.writeFile(temporary, holder, { mode: 0o600, flag: 'wx' });
      for (;;) {
        if (await this.createLock(temporary, holder)) return;
        const held = await this.heldLock();
        // Released meanwhile: try again at once.
        if (held === undefined) continue;
        if (held.stale) {
          await this.breakLock(held);
          continue;
        }
        if (Date.now() > deadline) {
          const by = held.holder ? `by process ${held.holder.pid} on ${held.holder.host}, which is running, ` : '';
          throw new KeyStorageError(`the lock file ${this.lockPath} has been held ${by}for over ${LOCK_TIMEOUT_MS / 1000}s; remove it if no registry or CLI is running`);
        }
        await sleep(LOCK_RETRY_MS);
      }
    } catch (error) {
      if (error instanceof KeyStorageError) throw error;
      throw new KeyStorageError(`cannot create the lock file ${this.lockPath}: ${(error as Error).message}`, { cause: error });
    } finally {
      await fs.rm(temporary, { force: true });
    }
  }

  /** True when this process now holds the lock, false when another does. */
  private async createLock(temporary: string, holder: string): Promise<boolean> {
    try {
      await fs.link(temporary, this.lockPath);
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(errorCode(error) ?? '')) throw error;
    }
    // A file system without hard links: created, then written (a crash in between leaves it empty,
    // which only time then breaks).
    try {
      await fs.writeFile(this.lockPath, holder, { mode: 0o600, flag: 'wx' });
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    }
  }

  /** The lock file as it is now, and whether its holder is gone; undefined when there is none. */
  private async heldLock(): Promise<{ ino: number; text: string; holder?: { pid: number; host: string }; stale: boolean } | undefined> {
    let stat: Stats;
    let text: string;
    try {
      stat = await fs.stat(this.lockPath);
      text = await fs.readFile(this.lockPath, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const holder = lockHolder(text);
    // A pid is checked only on its own host; a pid reused since the crash looks alive: time decides then.
    const dead = holder !== undefined && holder.host === os.hostname() && holder.pid !== process.pid && !isRunning(holder.pid);
    return { ino: stat.ino, text, holder, stale: dead || Date.now() - stat.mtimeMs > STALE_LOCK_MS };
  }

  /**
   * Removes a lock judged stale, holding `<lock>.break` meanwhile: two processes breaking the same
   * lock would otherwise both remove it, the second the lock the first had just taken.
   */
  private async breakLock(judged: { ino: number; text: string; holder?: { pid: number } }): Promise<void> {
    const breakPath = `${this.lockPath}.break`;
    try {
      await fs.writeFile(breakPath, `${process.pid} ${os.hostname()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      // Another process is breaking it; a breaker that died doing so leaves this, removed after a while.
      const stat = await fs.stat(breakPath).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > STALE_LOCK_MS) await fs.rm(breakPath, { force: true });
      else await sleep(LOCK_RETRY_MS);
      return;
    }
    try {
      const now = await this.heldLock();
      if (now?.ino !== judged.ino || now.text !== judged.text) return;
      await fs.rm(this.lockPath, { force: true });
      this.logger.warn({ lock: this.lockPath, pid: judged.holder?.pid }, 'took over the key registry lock file of a process that is no longer running');
    } finally {
      await fs.rm(breakPath, { force: true });
    }
  }
}
