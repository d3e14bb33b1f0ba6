// `jwtproxy registry list|approve|revoke`: manual approval from the command line. File and Redis
// storage are worked on directly (the registry need not run; a running one sees the change at
// once). Memory storage lives inside the running registry: it is reached through the admin API,
// which must then be enabled (key_registry.admin.enabled), or the command refuses.
import { silentLogger } from '../observability/logger';
import { systemClock, type Clock } from '../util/clock';
import { createKeyStorage } from './createKeyStorage';
import { KeyRegistry, registryPolicy } from './KeyRegistry';
import { KEY_STATES, type KeyState, type RegisteredKey } from './RegisteredKey';
import { RegistryAdminClient } from './RegistryAdminClient';
import type { KeyRegistryConfig } from './registryConfig';

export const REGISTRY_USAGE = [
  'usage: jwtproxy registry <command> [-config FILE]',
  '  list [<service>] [--state pending|approved|revoked|expired]   keys and their state',
  '  approve <service> <kid>                                         approve a pending key',
  '  revoke <service> <kid>                                          revoke a key at once',
];

interface Approvals {
  list(filter: { service?: string; state?: KeyState }): Promise<RegisteredKey[]>;
  approve(service: string, kid: string): Promise<RegisteredKey>;
  revoke(service: string, kid: string): Promise<RegisteredKey>;
}

type Command = { name: 'list'; service?: string; state?: KeyState } | { name: 'approve' | 'revoke'; service: string; kid: string };

/** Parses the words after `registry`; a string is the usage error to print. */
function parseCommand(args: string[]): Command | string {
  const [name, ...rest] = args;
  if (name === 'approve' || name === 'revoke') {
    if (rest.length !== 2) return `${name} takes <service> <kid>`;
    return { name, service: rest[0], kid: rest[1] };
  }
  if (name !== 'list') return name === undefined ? 'a command is needed' : `unknown command ${JSON.stringify(name)}`;
  const command: Command = { name };
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    if (word === '--state' || word === '-state' || word.startsWith('--state=')) {
      const state = word.includes('=') ? word.slice(word.indexOf('=') + 1) : rest[++i];
      if (!KEY_STATES.includes(state as KeyState)) return `--state must be one of ${KEY_STATES.join(', ')}`;
      command.state = state as KeyState;
    } else if (word.startsWith('-') || command.service !== undefined) {
      return `unexpected argument ${JSON.stringify(word)}`;
    } else {
      command.service = word;
    }
  }
  return command;
}

const time = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

function describe(key: RegisteredKey): string {
  return [key.service, key.kid, key.state, time(key.expiresAt), time(key.createdAt), time(key.revokeAt)].join('\t');
}

/** Runs one registry command, writing its lines to `output`; resolves to the exit code (0 ok, 1 failed, 2 usage). */
export async function runRegistryCommand(args: string[], config: KeyRegistryConfig, output: (line: string) => void, deps: { clock?: Clock } = {}): Promise<number> {
  if (args.length === 1 && ['help', '-h', '-help', '--help'].includes(args[0])) {
    REGISTRY_USAGE.forEach((line) => output(line));
    return 0;
  }
  const command = parseCommand(args);
  if (typeof command === 'string') {
    output(`error: ${command}`);
    REGISTRY_USAGE.forEach((line) => output(line));
    return 2;
  }

  let approvals: Approvals;
  let close = async (): Promise<void> => {};
  if (config.storage.type === 'memory') {
    if (!config.admin.enabled) {
      output('error: the key registry keeps its keys in memory, inside the running registry: enable key_registry.admin (or use file or redis storage) to manage them from the command line');
      return 1;
    }
    approvals = new RegistryAdminClient(config.admin);
  } else {
    const storage = createKeyStorage(config.storage, silentLogger);
    try {
      await storage.start();
    } catch (error) {
      output(`error: ${(error as Error).message}`);
      return 1;
    }
    close = () => storage.stop();
    approvals = new KeyRegistry(registryPolicy(config), { storage, clock: deps.clock ?? systemClock, logger: silentLogger });
  }

  try {
    if (command.name === 'list') {
      const keys = await approvals.list({ service: command.service, state: command.state });
      output(['SERVICE', 'KID', 'STATE', 'EXPIRES', 'CREATED', 'REVOKE_AT'].join('\t'));
      keys.forEach((key) => output(describe(key)));
    } else {
      const key = command.name === 'approve' ? await approvals.approve(command.service, command.kid) : await approvals.revoke(command.service, command.kid);
      output(`${command.name === 'approve' ? 'approved' : 'revoked'}: ${describe(key)}`);
    }
    return 0;
  } catch (error) {
    output(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    await close();
  }
}
