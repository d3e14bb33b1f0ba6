// A tool subcommand of the jwtproxy binary (generate-ca, mint-token, …) and the streams it writes to.
import { JwtproxyError } from '../util/JwtproxyError';
import type { CommandLine } from './parseArgs';

/** Where a tool writes: text is written as given (lines end with "\n"). */
export interface ToolIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Read by `verify-token -`; process.stdin when absent. */
  stdin?: NodeJS.ReadableStream;
}

export interface ToolCommand {
  name: string;
  /** Printed after a usage error and by `jwtproxy <command> -help`. */
  usage: string;
  /** Resolves to the exit code; throws UsageError for bad input (exit 2). */
  run(line: CommandLine, io: ToolIo): Promise<number>;
}

/** A tool cannot do what was asked with the input given (not a usage mistake): exit code 1. */
export class ToolError extends JwtproxyError {
  readonly code = 'ERR_TOOL';
}
