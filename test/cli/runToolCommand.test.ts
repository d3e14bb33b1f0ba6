// The tool dispatcher in process: which commands are tools, and how failures become exit codes.
import { parseArgs } from '../../src/cli/parseArgs';
import { runToolCommand, TOOL_SYNOPSES } from '../../src/cli/runToolCommand';

function capture() {
  const io = { out: '', err: '', stdout: (text: string) => void (io.out += text), stderr: (text: string) => void (io.err += text) };
  return io;
}

test('a command that is not a tool is left to the caller', async () => {
  const io = capture();
  expect(await runToolCommand(parseArgs(['serve']), io)).toBeUndefined();
  expect(await runToolCommand(parseArgs(['-config', 'x.yaml']), io)).toBeUndefined();
  expect(io.out + io.err).toBe('');
});

test('a usage error exits 2 with the message and the command usage on stderr', async () => {
  const io = capture();
  expect(await runToolCommand(parseArgs(['mint-token', '-aud', 'http://a']), io)).toBe(2);
  expect(io.err).toMatch(/^jwtproxy mint-token: -key is required \(the private key to sign with\)\nusage: jwtproxy mint-token /);
  expect(io.out).toBe('');
});

test('a flag of another command is refused', async () => {
  const io = capture();
  expect(await runToolCommand(parseArgs(['generate-key', '-out', 'k.pem', '-config', 'x.yaml']), io)).toBe(2);
  expect(io.err).toMatch(/^jwtproxy generate-key: flag provided but not defined: -config\n/);
});

test('a configuration error exits 1 and names the path at fault', async () => {
  const io = capture();
  expect(await runToolCommand(parseArgs(['registry', 'list', '-config', '/nonexistent/config.yaml']), io)).toBe(1);
  expect(io.err).toBe('jwtproxy registry: invalid configuration: cannot read the config file /nonexistent/config.yaml: ENOENT\n');
});

test('every tool has a synopsis for the program usage', () => {
  expect(TOOL_SYNOPSES.map((synopsis) => synopsis.split(' ')[1])).toEqual(['generate-ca', 'generate-key', 'mint-token', 'verify-token', 'verify-token', 'registry']);
});
