// The flags of one tool subcommand, read and checked once: unknown flags, missing or malformed
// values are UsageErrors (exit 2), as Go's flag package treats them.
import * as os from 'node:os';
import { parseDuration } from '../config/duration';
import { UsageError, type CommandLine } from './parseArgs';

/** Flags naming files: `~/` in them is the home folder even where the shell left it (`-out=~/k.pem`, quotes). */
const FILE_FLAGS = new Set(['config', 'out', 'out-key', 'out-cert', 'pub', 'key']);

export class ToolFlags {
  constructor(
    private readonly line: CommandLine,
    /** The subcommand flags this command takes (`config` included when it reads a config file). */
    accepted: readonly string[],
  ) {
    const unknown = Object.keys(line.flags).filter((name) => !accepted.includes(name));
    if (line.config !== undefined && !accepted.includes('config')) unknown.push('config');
    if (unknown.length) throw new UsageError(`flag provided but not defined: -${unknown[0]}`);
  }

  has(name: string): boolean {
    return name === 'config' ? this.line.config !== undefined : name in this.line.flags;
  }

  string(name: string): string | undefined;
  string(name: string, fallback: string): string;
  string(name: string, fallback?: string): string | undefined {
    const value = name === 'config' ? this.line.config : this.line.flags[name];
    if (value === '') throw new UsageError(`-${name} must not be empty`);
    if (value !== undefined && FILE_FLAGS.has(name) && (value === '~' || value.startsWith('~/'))) return os.homedir() + value.slice(1);
    return value ?? fallback;
  }

  required(name: string, what: string): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`-${name} is required (${what})`);
    return value;
  }

  /** Every value of a repeatable flag, in order. */
  list(name: string): string[] {
    return this.line.flagValues[name] ?? [];
  }

  boolean(name: string): boolean {
    return this.line.flags[name] === 'true';
  }

  /** A Go duration (`90s`, `5m`, `1h30m`) in milliseconds; it must be positive, or ≥ 0 with `allowZero`. */
  duration(name: string, fallbackMs: number, options: { allowZero?: boolean } = {}): number {
    const text = this.string(name);
    if (text === undefined) return fallbackMs;
    const ms = parseDuration(text);
    if (ms === undefined) throw new UsageError(`-${name}: ${JSON.stringify(text)} is not a duration (e.g. 90s, 5m, 1h30m)`);
    if (ms < 0 || (ms === 0 && !options.allowZero)) throw new UsageError(`-${name} must be ${options.allowZero ? 'zero or more' : 'positive'}, got ${text}`);
    return ms;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(value >= min && value <= max)) throw new UsageError(`-${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
    return value;
  }

  /** One of `choices`, matched case-insensitively and returned as spelled in `choices`. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const choice = choices.find((candidate) => candidate.toLowerCase() === text.toLowerCase());
    if (choice === undefined) throw new UsageError(`-${name} must be ${choices.join(', ')}, got ${JSON.stringify(text)}`);
    return choice;
  }

  /** Refuses positional words beyond `max`. */
  positionals(max: number): string[] {
    if (this.line.args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(this.line.args[max])}`);
    return this.line.args;
  }
}
