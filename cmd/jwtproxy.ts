// jwtproxy command line: `jwtproxy -config FILE [-log-level LEVEL]`, `-check`, and tool subcommands.
// Only what every command needs is imported up front; the rest loads when a command asks for it,
// so -version, -help and the tools start without the config schema, the proxies or the logger.
import * as os from 'node:os';
import type { Config } from '../src/app/loadConfig';
import { parseArgs, UsageError, type CommandLine } from '../src/cli/parseArgs';
import { ToolFlags } from '../src/cli/ToolFlags';
import { ConfigError } from '../src/config/ConfigError';
import { DEMO_USAGE } from '../src/demo/demoUsage';

// Signing runs on libuv's thread pool, shared with file I/O and dns.lookup: give it at least a
// thread per core. Set before anything uses the pool; an operator's own value wins.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism()));

async function usage(): Promise<string> {
  const { TOOL_SYNOPSES } = await import('../src/cli/runToolCommand');
  return `Usage: jwtproxy -config FILE [-log-level debug|info|warn|error|fatal|panic]
       jwtproxy -config FILE -check          validate the configuration (and the files it names) and exit
       jwtproxy check -config FILE           the same
       jwtproxy demo [-base-port 8000]       registry, signer, verifier and upstream on loopback

Runs the signer proxy, the verifier proxies and the key registry that FILE enables.
Flags take one dash or two (-config, --config, --config=FILE).

Tools (a wrong flag prints the tool's own usage):
${TOOL_SYNOPSES.map((synopsis) => `  ${synopsis}`).join('\n')}`;
}

const CHECK_USAGE = `usage: jwtproxy check -config FILE      (or: jwtproxy -config FILE -check)
Validates FILE and every file it names (keys, certificates, scripts, folders written in,
socket folders, addresses in use twice), without the network, then exits: 0 valid, 1 not.`;

/** What `<command> -help` prints: the subcommand's own usage. */
async function usageOf(command: string | undefined): Promise<string | undefined> {
  if (command === undefined) return usage();
  if (command === 'check') return CHECK_USAGE;
  if (command === 'demo') return DEMO_USAGE;
  return (await import('../src/cli/runToolCommand')).toolUsage(command);
}

/** A word where a subcommand goes, e.g. `jwtproxy config.yaml`: say what was probably meant. */
async function unknownCommand(command: string): Promise<UsageError> {
  const hint = /\.ya?ml$/i.test(command) ? ` (did you mean -config ${command}?)` : '';
  return new UsageError(`unknown command ${JSON.stringify(command)}${hint}\n${await usage()}`);
}

function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../package.json') as { version: string }).version;
}

async function loadConfig(line: CommandLine): Promise<Config> {
  const { expandEnv, loadConfigFile, parseConfig } = await import('../src/app/loadConfig');
  // Without -config the Go program runs on its defaults: a signer with no key, which fails to start.
  return line.config ? loadConfigFile(expandEnv(line.config)) : parseConfig('');
}

async function main(argv: string[]): Promise<number> {
  const line = parseArgs(argv);
  if (line.help) {
    const commandUsage = await usageOf(line.command);
    if (commandUsage === undefined) throw await unknownCommand(line.command!);
    process.stdout.write(`${commandUsage}\n`);
    return 0;
  }
  if (line.version) {
    process.stdout.write(`jwtproxy ${version()}\n`);
    return 0;
  }
  if (line.command === undefined || line.command === 'check') {
    // As Go's flag package: a flag the program does not define is a mistake, named, exit 2.
    try {
      new ToolFlags(line, ['config']).positionals(0);
    } catch (error) {
      throw new UsageError(`${(error as Error).message}\n${await usageOf(line.command)}`);
    }
  }
  if (line.command === 'check' || line.check) {
    if (line.command !== undefined && line.command !== 'check') throw new UsageError(`-check checks a configuration; it does not go with ${line.command}\n${await usage()}`);
    if (line.config === undefined) throw new UsageError(`-check needs the file to check: jwtproxy -config FILE -check\n${CHECK_USAGE}`);
    const config = await loadConfig(line);
    // What start-up checks without the network: files, folders, socket folders, addresses.
    const { preflight } = await import('../src/app/preflight');
    const problems = await preflight(config);
    for (const problem of problems) process.stderr.write(`jwtproxy: invalid configuration: ${problem.message}\n`);
    if (problems.length > 0) return 1;
    // Scripts load as at start: a Lua syntax error fails the check too.
    const { checkClaimsVerifiers } = await import('../src/claims/claimsVerifierTypes');
    const { claimsVerifiersOf } = await import('../src/app/loadConfig');
    await checkClaimsVerifiers(claimsVerifiersOf(config));
    process.stdout.write(`${line.config ?? '(defaults)'}: configuration is valid\n`);
    return 0;
  }
  const { runToolCommand } = await import('../src/cli/runToolCommand');
  const toolExitCode = await runToolCommand(line, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
  if (toolExitCode !== undefined) return toolExitCode;
  if (line.command === 'demo') {
    new ToolFlags(line, ['base-port']).positionals(0);
    return (await import('../src/demo/demoCommand')).runDemoCommand(line.flags, line.logLevel);
  }
  if (line.command !== undefined) throw await unknownCommand(line.command);
  const { createLogger } = await import('../src/observability/logger');
  const logger = createLogger(line.logLevel ?? 'info');
  const config = await loadConfig(line);
  const { runProxies } = await import('../src/app/runProxies');
  const { expandEnv } = await import('../src/app/loadConfig');
  return runProxies(config, logger, { version: version(), configFile: line.config === undefined ? undefined : expandEnv(line.config) });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A failure must end the process even if something it started still holds the event loop.
    if (code !== 0) process.exit(code);
  },
  (error: Error) => {
    if (error instanceof ConfigError) process.stderr.write(`jwtproxy: invalid configuration: ${error.message}\n`);
    else if (error instanceof UsageError) process.stderr.write(`jwtproxy: ${error.message}\n`);
    else process.stderr.write(`jwtproxy: ${error.stack ?? error.message}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
