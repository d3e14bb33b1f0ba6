// A YAML mapping seen through its path: typed getters that fail with the exact
// location and the fix, and a strict check that no unknown key was left behind.
import * as fs from 'node:fs';
import { ConfigError } from './ConfigError';
import { isReservedHeader } from './reservedHeaders';
import { formatByteSize, parseByteSize } from './byteSize';
import { formatDuration, MAX_TIMER_MS, parseDuration } from './duration';
import { canonicalHeaderName } from '../util/headerName';
import type { Prerequisite } from './Prerequisite';

type Mapping = Record<string, unknown>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** How the values were written, when the config came from text: YAML 1.1 has read 0755 as 493. */
export interface ConfigSource {
  /** The value under a mapping's key or at a list's index. */
  at(keyOrIndex: string | number): ConfigSource | undefined;
  /** A plain scalar as written, e.g. "0755"; undefined for quoted scalars, mappings and lists. */
  readonly literal: string | undefined;
}

/** A file mode as the operator must write it: octal, with a leading 0 (0755, 0640, 01777). */
const OCTAL_MODE = /^0[0-7]{0,4}$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

export class ConfigNode {
  private readonly read = new Set<string>();

  private constructor(
    readonly path: string,
    private readonly map: Mapping,
    private readonly source: ConfigSource | undefined,
    /** Shared by the whole tree: what start-up needs from the machine, where the config says it. */
    private readonly needs: Prerequisite[],
  ) {}

  /** Wraps `value`, which must be a mapping; null or absent stands for an empty one. */
  static of(value: unknown, path: string, source?: ConfigSource, needs: Prerequisite[] = []): ConfigNode {
    if (value === undefined || value === null) return new ConfigNode(path, {}, source, needs);
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(path, `expected a mapping of keys to values, got ${describe(value)}`);
    }
    return new ConfigNode(path, value as Mapping, source, needs);
  }

  /** Records that start-up needs `prerequisite`, found at `key` (a key, or a list item as `key[i]`), from the machine. */
  requires(key: string, prerequisite: DistributiveOmit<Prerequisite, 'at'>): void {
    this.needs.push({ ...prerequisite, at: this.at(key) } as Prerequisite);
  }

  /** What start-up needs, recorded anywhere in this node's tree. */
  prerequisites(): readonly Prerequisite[] {
    return this.needs;
  }

  /** Forgets what this node's subtree required: a disabled block starts nothing. */
  dropPrerequisites(): void {
    const inside = (at: string) => at.startsWith(`${this.path}.`) || at.startsWith(`${this.path}[`);
    for (let i = this.needs.length - 1; i >= 0; i--) if (inside(this.needs[i].at)) this.needs.splice(i, 1);
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.map[key] !== undefined && this.map[key] !== null;
  }

  keys(): string[] {
    return Object.keys(this.map);
  }

  /** The raw value; marks the key as understood. */
  raw(key: string): unknown {
    this.read.add(key);
    return this.map[key];
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(this.at(key), problem);
  }

  child(key: string): ConfigNode {
    return ConfigNode.of(this.raw(key), this.at(key), this.source?.at(key), this.needs);
  }

  /** A list of mappings; absent means empty. */
  children(key: string): ConfigNode[] {
    const value = this.raw(key);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(key, `expected a list, got ${describe(value)}`);
    const source = this.source?.at(key);
    return value.map((item, index) => ConfigNode.of(item, `${this.at(key)}[${index}]`, source?.at(index), this.needs));
  }

  string(key: string, fallback: string): string;
  string(key: string): string | undefined;
  string(key: string, fallback?: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (typeof value !== 'string') this.fail(key, `expected a string, got ${describe(value)}`);
    return value;
  }

  /**
   * A secret, written at `key` or read from the file `<key>_file` names (a mounted Kubernetes
   * Secret, a Docker secret): the file's text without its final line break. Never both.
   */
  secret(key: string): string | undefined {
    const inline = this.string(key);
    const fileKey = `${key}_file`;
    const file = this.string(fileKey);
    if (file === undefined || file === '') return inline;
    if (inline !== undefined && inline !== '') this.fail(fileKey, `give ${key} or ${fileKey}, not both`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      this.fail(fileKey, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    text = text.replace(/\r?\n$/, '');
    if (text === '') this.fail(fileKey, `${file} is empty: it should hold the ${key}`);
    return text;
  }

  requiredString(key: string, hint: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') this.fail(key, `is required: ${hint}`);
    return value;
  }

  stringList(key: string): string[] {
    const value = this.raw(key);
    if (value === undefined || value === null) return [];
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
      this.fail(key, `expected a string or a list of strings, got ${describe(value)}`);
    }
    return list;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') this.fail(key, `${describe(value)} is not a boolean (use true or false)`);
    return value;
  }

  integer(key: string, fallback: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(key, `${describe(value)} is not a whole number`);
    if (value < min || value > max) this.fail(key, `${value} is out of range (${min} to ${max})`);
    return value;
  }

  /**
   * A Go duration, in milliseconds. With `timer`, the value sets a Node.js timer, which fires at
   * once beyond MAX_TIMER_MS: a longer one is refused rather than turned into no wait at all.
   */
  duration(key: string, fallback: number, options: { positive?: boolean; nonNegative?: boolean; timer?: boolean } = {}): number {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      this.fail(key, `${describe(value)} is not a duration (write it as Go does: 300ms, 30s, 5m, 1h30m)`);
    }
    if (options.positive && ms <= 0) this.fail(key, `${describe(value)} must be a positive duration`);
    if (options.nonNegative && ms < 0) this.fail(key, `${describe(value)} must not be negative`);
    if (options.timer && ms > MAX_TIMER_MS) {
      this.fail(key, `${describe(value)} is too long: at most ${formatDuration(MAX_TIMER_MS)} (about 24.8 days, the longest a Node.js timer waits)`);
    }
    return ms;
  }

  /** A size in bytes, written 16MiB, 512KiB, 64MB (KB and MB are powers of 1000) or as a number of bytes; from `min` to `max`. */
  byteSize(key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    const bytes = parseByteSize(value);
    if (bytes === undefined) this.fail(key, `${describe(value)} is not a size (write it as 16MiB, 512KiB, 64MB or a number of bytes)`);
    if (bytes < min) this.fail(key, `${describe(value)} is too small: at least ${formatByteSize(min)}`);
    if (bytes > max) this.fail(key, `${describe(value)} is too large: at most ${formatByteSize(max)}`);
    return bytes;
  }

  /**
   * A unix file mode, written in octal with a leading 0: 0755 or "0755". YAML 1.1 has read 0755
   * as octal already, but 0999 (no octal) as decimal 999 and 755 as 755 (0o1363, as Go reads
   * it): only the text tells them apart, so a number without its text is refused too.
   */
  fileMode(key: string, fallback: number): number {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    const written = typeof value === 'string' ? value : typeof value === 'number' ? this.source?.at(key)?.literal : undefined;
    if (written === undefined || !OCTAL_MODE.test(written)) {
      const shown = typeof value === 'number' ? (written ?? String(value)) : describe(value);
      this.fail(key, `${shown} is not a file mode: write it in octal (digits 0 to 7) with a leading 0, e.g. 0755`);
    }
    return parseInt(written, 8);
  }

  /** One of `choices`. */
  choice<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const value = this.string(key, fallback);
    if (!(choices as readonly string[]).includes(value)) this.fail(key, `${describe(value)} is not one of ${choices.join(', ')}`);
    return value as T;
  }

  /** An HTTP header name, lower-cased; `reserved` names (framing, hop-by-hop…) are refused. */
  headerName(key: string, reserved: readonly string[] = []): string | undefined {
    const name = this.string(key);
    if (name === undefined || name === '') return undefined;
    return this.checkHeaderName(key, name, reserved);
  }

  /**
   * `name` (found at `key`, which may be the name itself) in its canonical spelling: lower case,
   * "_" as "-" (CGI-style applications read both spellings as one header), so that a reserved
   * name cannot be taken in another spelling and the proxy strips every spelling of it.
   */
  checkHeaderName(key: string, name: string, reserved: readonly string[] = []): string {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) this.fail(key, `${describe(name)} is not a valid header name`);
    const canonical = canonicalHeaderName(name);
    if (isReservedHeader(canonical, reserved)) this.fail(key, `${describe(name)} is reserved for the proxy itself; choose another header name`);
    return canonical;
  }

  /** An absolute http(s) URL. */
  httpUrl(key: string, hint: string): URL {
    const text = this.requiredString(key, hint);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.fail(key, `${describe(text)} is not a URL: ${hint}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.fail(key, `${describe(text)} must start with http:// or https://`);
    }
    return url;
  }

  /** Checks `type` against the known implementations of a role; returns it and its options. */
  component<T extends string>(key: string, known: readonly T[], fallbackType?: T): { type: T; options: ConfigNode } | undefined {
    if (!this.has(key)) {
      this.raw(key);
      if (fallbackType === undefined) return undefined;
      return { type: fallbackType, options: ConfigNode.of({}, `${this.at(key)}.options`, undefined, this.needs) };
    }
    const node = this.child(key);
    const type = node.string('type', fallbackType ?? '') as T;
    if (!type) node.fail('type', `is required: one of ${known.join(', ')}`);
    if (!known.includes(type)) node.fail('type', `unknown type ${describe(type)}; expected one of ${known.join(', ')}`);
    const options = node.child('options');
    node.done();
    return { type, options };
  }

  /** Fails on the first key no getter asked for: a typo must not be silently ignored. */
  done(): void {
    for (const key of Object.keys(this.map)) {
      if (!this.read.has(key)) {
        const known = [...this.read].sort().join(', ');
        throw new ConfigError(this.at(key), `unknown key${known ? `; known keys here are ${known}` : ''}`);
      }
    }
  }
}
