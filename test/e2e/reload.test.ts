// SIGHUP re-reads keys and certificates without a restart, through the real CLI.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, type RunningCli } from '../support/cli';
import { cliTestBed } from '../support/cliTestBed';
import { CLI_AUDIENCE, cliVerifierYaml } from '../support/cliVerifierYaml';
import { bearer, httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { mintToken } from '../support/mintToken';

const otherKey = crypto.createPrivateKey(fs.readFileSync(interopFile('otherkey.key')));
const otherPublicPem = crypto.createPublicKey(otherKey).export({ type: 'spki', format: 'pem' }) as string;
const audience = CLI_AUDIENCE.replace(/\/$/, '');

const bed = cliTestBed();

async function start(workers = 1): Promise<{ cli: RunningCli; url: string; keyFile: string }> {
  const keyFile = path.join(tempDir(), 'verifier.pub');
  fs.copyFileSync(interopFile('mykey.pub'), keyFile);
  const cli = bed.run(cliVerifierYaml({ listen: '127.0.0.1:0', upstream: bed.upstreamUrl, publicKeyPath: keyFile, workers }));
  return { cli, url: await cli.boundAddress('verifier proxy started', workers), keyFile };
}

const statusWith = async (url: string, key?: crypto.KeyObject) => (await httpRequest(url, { headers: bearer(await mintToken({ audience, key })) })).status;

test('a replaced public key file takes effect on SIGHUP, without a restart', async () => {
  const { cli, url, keyFile } = await start();
  expect(await statusWith(url)).toBe(200);
  fs.writeFileSync(keyFile, otherPublicPem);
  expect(await statusWith(url, otherKey)).toBe(403);
  cli.child.kill('SIGHUP');
  await cli.waitFor('reloaded keys and certificates');
  expect(await statusWith(url, otherKey)).toBe(200);
  expect(await statusWith(url)).toBe(403);
  expect(cli.child.exitCode).toBeNull();
});

test('a broken key file is refused on SIGHUP and the old key stays in use', async () => {
  const { cli, url, keyFile } = await start();
  fs.writeFileSync(keyFile, 'not a key\n');
  cli.child.kill('SIGHUP');
  await cli.waitFor('reload failed; the previous keys and certificates stay in use');
  expect(await statusWith(url)).toBe(200);
});

test('in multi-core mode the primary passes the reload to every worker', async () => {
  const { cli, url, keyFile } = await start(2);
  fs.writeFileSync(keyFile, otherPublicPem);
  cli.child.kill('SIGHUP');
  // The primary and both workers report.
  await cli.waitFor('reloaded keys and certificates', 3);
  for (let i = 0; i < 4; i++) expect(await statusWith(url, otherKey)).toBe(200);
});

test.each([1, 2])('a SIGHUP while the process drains and stops is ignored: the stop completes (workers: %i)', async (workers) => {
  const keyFile = path.join(tempDir(), 'verifier.pub');
  fs.copyFileSync(interopFile('mykey.pub'), keyFile);
  const yaml = cliVerifierYaml({ listen: '127.0.0.1:0', upstream: bed.upstreamUrl, publicKeyPath: keyFile, workers }).replace('jwtproxy:\n', 'jwtproxy:\n  drain_period: 1s\n');
  const cli = bed.run(yaml);
  await cli.boundAddress('verifier proxy started', workers);
  await cli.waitFor('"msg":"ready"');
  cli.child.kill('SIGTERM');
  await cli.waitFor('draining');
  cli.child.kill('SIGHUP');
  expect(await cli.exited).toBe(0);
  expect(cli.output).toContain('SIGHUP ignored: stopping');
  expect(cli.output).toContain('"msg":"stopped"');
});
