// `jwtproxy registry list|approve|revoke … -config FILE`: manages the keys of the built-in key registry
// that FILE's jwtproxy.key_registry block describes.
import { expandEnv, loadConfigFile } from '../app/loadConfig';
import { REGISTRY_USAGE, runRegistryCommand } from '../registry/runRegistryCommand';
import { ToolError, type ToolCommand } from './ToolCommand';
import { ToolFlags } from './ToolFlags';

const USAGE = REGISTRY_USAGE.join('\n').replace('[-config FILE]', '-config FILE');

export const registryCommand: ToolCommand = {
  name: 'registry',
  usage: USAGE,
  async run(line, io) {
    const flags = new ToolFlags(line, ['config', 'state']);
    // runRegistryCommand reads its own words; --state was taken as a flag by the command-line parser.
    const args = [...line.args, ...flags.list('state').flatMap((state) => ['--state', state])];
    if (args.length === 1 && args[0] === 'help') {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const file = flags.required('config', 'the configuration file with the jwtproxy.key_registry block');
    const registry = loadConfigFile(expandEnv(file)).keyRegistry;
    if (!registry) throw new ToolError(`${file} has no jwtproxy.key_registry block: there is no key registry to manage`);
    // Buffered so that a failure's lines (error, usage) all go to stderr.
    const lines: string[] = [];
    const code = await runRegistryCommand(args, registry, (text) => lines.push(text));
    const text = lines.map((text) => `${text}\n`).join('');
    if (code === 0) io.stdout(text);
    else io.stderr(text);
    return code;
  },
};
