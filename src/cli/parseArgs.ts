// Go-style flags (`-config x`, `--config=x`, `-log-level debug`) and an optional subcommand.
import { LOG_LEVELS, type LogLevel } from '../observability/logger';

export interface CommandLine {
  command?: string;
  /** Words after the subcommand that are not flags. */
  args: string[];
  config?: string;
  logLevel?: LogLevel;
  check: boolean;
  help: boolean;
  version: boolean;
  /** Flags of subcommands (e.g. -out, -ttl), by name. */
  flags: Record<string, string>;
}

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

const BOOLEAN_FLAGS = new Set(['check', 'help', 'h', 'version']);

export function parseArgs(argv: string[]): CommandLine {
  const line: CommandLine = { args: [], check: false, help: false, version: false, flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const match = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(word);
    if (!match) {
      if (line.command === undefined && line.args.length === 0) line.command = word;
      else line.args.push(word);
      continue;
    }
    const name = match[1];
    if (BOOLEAN_FLAGS.has(name)) {
      if (match[2] !== undefined && match[2] !== 'true') throw new UsageError(`flag -${name} takes no value`);
      if (name === 'check') line.check = true;
      else if (name === 'version') line.version = true;
      else line.help = true;
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`flag -${name} needs a value`);
    if (name === 'config') line.config = value;
    else if (name === 'log-level') {
      if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new UsageError(`-log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
      line.logLevel = value as LogLevel;
    } else line.flags[name] = value;
  }
  return line;
}
