import { parseArgs, UsageError } from '../../src/cli/parseArgs';

test('takes -config with one dash or two, and --config=FILE', () => {
  expect(parseArgs(['-config', 'a.yaml']).config).toBe('a.yaml');
  expect(parseArgs(['--config', 'b.yaml']).config).toBe('b.yaml');
  expect(parseArgs(['--config=c.yaml']).config).toBe('c.yaml');
});

test('takes -log-level among the Go levels only', () => {
  expect(parseArgs(['-log-level', 'debug']).logLevel).toBe('debug');
  expect(() => parseArgs(['-log-level', 'verbose'])).toThrow(UsageError);
});

test('-check is a boolean flag that takes no value', () => {
  const line = parseArgs(['-check', '-config', 'a.yaml']);
  expect(line.check).toBe(true);
  expect(line.config).toBe('a.yaml');
  expect(() => parseArgs(['-check=yes'])).toThrow('flag -check takes no value');
});

test('the first word is the command, later words its arguments', () => {
  const line = parseArgs(['-config', 'a.yaml', 'registry', 'approve', 'svc', 'kid=']);
  expect(line.command).toBe('registry');
  expect(line.args).toEqual(['approve', 'svc', 'kid=']);
});

test('a subcommand flag keeps its last value in flags and every value in flagValues', () => {
  const line = parseArgs(['mint-token', '-claim', 'a=1', '--claim=b=2', '-ttl', '1m']);
  expect(line.flags).toEqual({ claim: 'b=2', ttl: '1m' });
  expect(line.flagValues).toEqual({ claim: ['a=1', 'b=2'], ttl: ['1m'] });
});

test('-force takes no value, so the next flag is not swallowed', () => {
  const line = parseArgs(['generate-ca', '-force', '-out-key', 'ca.key']);
  expect(line.flags).toEqual({ force: 'true', 'out-key': 'ca.key' });
  expect(parseArgs(['generate-ca', '-force=false']).flags.force).toBe('false');
  expect(() => parseArgs(['-force=maybe'])).toThrow(UsageError);
});

test('a lone dash is an argument (standard input)', () => {
  expect(parseArgs(['verify-token', '-aud', 'http://a', '-']).args).toEqual(['-']);
});

test('after "--" every word is an argument', () => {
  expect(parseArgs(['verify-token', '--', '-not-a-flag']).args).toEqual(['-not-a-flag']);
});

test('a flag without its value is a usage error', () => {
  expect(() => parseArgs(['mint-token', '-key'])).toThrow('flag -key needs a value');
});
