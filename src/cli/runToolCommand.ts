// The tool subcommands of the jwtproxy binary: one dispatcher, one module per command.
import { ConfigError } from '../config/ConfigError';
import { generateCa } from './generateCa';
import { generateKey } from './generateKey';
import { mintToken } from './mintToken';
import { UsageError, type CommandLine } from './parseArgs';
import { registryCommand } from './registryCommand';
import type { ToolCommand, ToolIo } from './ToolCommand';
import { verifyToken } from './verifyToken';

const TOOL_COMMANDS: readonly ToolCommand[] = [generateCa, generateKey, mintToken, verifyToken, registryCommand];

/** The command lines of each tool's usage ("usage: jwtproxy …" and the "jwtproxy …" lines under it), for the program's usage. */
export const TOOL_SYNOPSES: readonly string[] = TOOL_COMMANDS.flatMap((command) => {
  const lines = command.usage.split('\n');
  const end = lines.findIndex((text, index) => index > 0 && !/^\s+jwtproxy /.test(text));
  return lines.slice(0, end === -1 ? lines.length : end).map((text) => text.replace(/^usage: /, '').trim());
});

/** The usage of the tool `name`, printed by `jwtproxy <name> -help`; undefined when there is no such tool. */
export function toolUsage(name: string): string | undefined {
  return TOOL_COMMANDS.find((command) => command.name === name)?.usage;
}

/**
 * Runs `line.command` when it is a tool and resolves to its exit code: 0 done, 1 failed, 2 usage error
 * (with the command's usage on stderr). Resolves undefined when `line.command` is not a tool.
 */
export async function runToolCommand(line: CommandLine, io: ToolIo): Promise<number | undefined> {
  const command = TOOL_COMMANDS.find((candidate) => candidate.name === line.command);
  if (!command) return undefined;
  try {
    return await command.run(line, io);
  } catch (error) {
    const prefix = `jwtproxy ${command.name}: `;
    if (error instanceof UsageError) {
      io.stderr(`${prefix}${error.message}\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      io.stderr(`${prefix}invalid configuration: ${error.message}\n`);
      return 1;
    }
    // Errors with a code are expected failures (a file exists, a key cannot be read): their message says it all.
    if (typeof (error as { code?: unknown }).code === 'string') {
      io.stderr(`${prefix}${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
