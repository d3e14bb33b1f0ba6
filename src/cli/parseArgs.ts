// Go-style flags (`-config x`, `--config=x`, `-log-level debug`), an optional subcommand; "--" ends the flags.
import { LOG_LEVELS, type LogLevel } from '../observability/logLevel';
import { JwtproxyError } from '../util/JwtproxyError';

export interface CommandLine {
  command?: string;
  /** Words after the subcommand that are not flags. */
  args: string[];
  config?: string;
  logLevel?: LogLevel;
  check: boolean;
  help: boolean;
  version: boolean;
  /** Flags of subcommands (e.g. -out, -ttl), by name: the last value given, as Go's flag package keeps. */
  flags: Record<string, string>;
  /** Every value of each subcommand flag, in order, for repeatable flags (e.g. -claim a=1 -claim b=2). */
  flagValues: Record<string, string[]>;
}

export class UsageError extends JwtproxyError {
  readonly code = 'ERR_USAGE';
}

const BOOLEAN_FLAGS = new Set(['check', 'help', 'h', 'version']);
/** Boolean flags of subcommands: no value follows them; `-force=false` is accepted, as Go's flag package does. */
const TOOL_BOOLEAN_FLAGS = new Set(['force']);

export function parseArgs(argv: string[]): CommandLine {
  const line: CommandLine = { args: [], check: false, help: false, version: false, flags: {}, flagValues: {} };
  const positional = (word: string) => {
    if (line.command === undefined && line.args.length === 0) line.command = word;
    else line.args.push(word);
  };
  const setFlag = (name: string, value: string) => {
    line.flags[name] = value;
    (line.flagValues[name] ??= []).push(value);
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    // As in Go, "--" ends the flags: what follows is positional even if it starts with a dash.
    if (word === '--') {
      argv.slice(i + 1).forEach(positional);
      break;
    }
    const match = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(word);
    if (!match) {
      positional(word);
      continue;
    }
    const name = match[1];
    if (TOOL_BOOLEAN_FLAGS.has(name)) {
      if (match[2] !== undefined && match[2] !== 'true' && match[2] !== 'false') throw new UsageError(`flag -${name} is true or false, got ${JSON.stringify(match[2])}`);
      setFlag(name, match[2] ?? 'true');
      continue;
    }
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
    } else setFlag(name, value);
  }
  return line;
}
