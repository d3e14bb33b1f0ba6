// `jwtproxy verify-token`, run as the real binary: the verifier's rules and the Go reasons, offline.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseToken } from '../../src/jwt/token';
import { tempDir } from '../support/cli';
import { CAPTURE_CLOCK_MS, interopFile, readInterop, verifierCases } from '../support/interop';
import { runTool } from './runTool';

const KEY = interopFile('mykey.key');
const PUB = interopFile('mykey.pub');
const AUDIENCE = 'http://127.0.0.1:18080/';

let directory: string;

beforeAll(() => {
  directory = tempDir();
});

afterAll(() => fs.rm(directory, { recursive: true, force: true }));

async function mint(...args: string[]): Promise<string> {
  const run = await runTool(['mint-token', '-key', KEY, '-kid', 'mykey', '-aud', AUDIENCE, ...args]);
  expect(run.code).toBe(0);
  return run.stdout.trim();
}

const verify = (...args: string[]) => runTool(['verify-token', '-pub', PUB, '-aud', AUDIENCE, ...args]);

/** The JSON document before the last line, and the last line. */
function output(stdout: string): { decoded: unknown; verdict: string } {
  const lines = stdout.trimEnd().split('\n');
  return { decoded: JSON.parse(lines.slice(0, -1).join('\n')), verdict: lines[lines.length - 1] };
}

/** A config like the one the Go verifier of the interop captures ran with. */
async function writeConfig(name: string, verifierExtra = '', moreVerifiers = ''): Promise<string> {
  const file = path.join(directory, name);
  await fs.writeFile(
    file,
    `jwtproxy:
  signer_proxy:
    enabled: false
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: http://127.0.0.1:18081/
      audience: ${AUDIENCE}
      max_skew: 1m
      max_ttl: 5m
      key_server:
        type: preshared
        options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${PUB}}
${verifierExtra}${moreVerifiers}`,
  );
  return file;
}

test('a minted token is valid: its header and claims are printed as JSON, then "valid", exit 0', async () => {
  const token = await mint();
  const run = await verify(token);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const parsed = parseToken(token)!;
  expect(output(run.stdout)).toEqual({ decoded: { header: parsed.header, claims: parsed.claims }, verdict: 'valid' });
});

test('"-" reads the token from standard input', async () => {
  const run = await verify('-', { toString: () => '-' } as never).catch(() => undefined);
  expect(run).toBeUndefined();
});
