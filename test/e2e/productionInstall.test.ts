// The documented production path: build where the dev tools are, then on the host only
// `npm ci --omit=dev` (no compiler there) and the documented start.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../support/cli';
import { interopFile } from '../support/interop';

const ROOT = path.resolve(__dirname, '../..');

function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: timeoutMs, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

test('npm ci --omit=dev keeps the dist/ built elsewhere, and jwtproxy starts from it', async () => {
  const host = tempDir();
  for (const entry of ['package.json', 'package-lock.json', 'bin', 'dist', 'scripts']) fs.cpSync(path.join(ROOT, entry), path.join(host, entry), { recursive: true });
  const install = await run('npm', ['ci', '--omit=dev', '--prefer-offline'], host);
  expect({ code: install.code, stderr: install.code === 0 ? '' : install.stderr }).toEqual({ code: 0, stderr: '' });
  expect(install.stderr + install.stdout).toContain('dev dependencies omitted: using the dist/ already built');
  expect(fs.existsSync(path.join(host, 'node_modules/typescript'))).toBe(false);
  const version = await run('npx', ['--no-install', 'jwtproxy', '--version'], host, 20_000);
  expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^jwtproxy \d+\.\d+\.\d+\n$/) });
  fs.writeFileSync(
    path.join(host, 'config.yaml'),
    `jwtproxy:\n  signer_proxy: {enabled: false}\n  verifier_proxies:\n  - listen_addr: 127.0.0.1:0\n    verifier:\n      upstream: http://127.0.0.1:9/\n      audience: http://verifier.test/\n      key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: ${interopFile('mykey.pub')}}}\n`,
  );
  const check = await run('npx', ['--no-install', 'jwtproxy', '-config', 'config.yaml', '-check'], host, 20_000);
  expect(check).toMatchObject({ code: 0, stdout: 'config.yaml: configuration is valid\n' });
}, 180_000);

test('without a build, the start says how to make one', async () => {
  const host = tempDir();
  fs.cpSync(path.join(ROOT, 'bin'), path.join(host, 'bin'), { recursive: true });
  const result = await run(process.execPath, [path.join(host, 'bin/jwtproxy'), '--version'], host, 10_000);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^jwtproxy: not built: run `npm run build`/);
});
