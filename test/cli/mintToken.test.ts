// `jwtproxy mint-token`, run as the real binary: tokens as the Go signer makes them.
import * as crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseToken } from '../../src/jwt/token';
import { keyThumbprint } from '../../src/keys/keyThumbprint';
import { tempDir } from '../support/cli';
import { goTokens, interopFile, readInterop } from '../support/interop';
import { runTool } from './runTool';

const KEY = interopFile('mykey.key');
const publicKey = crypto.createPublicKey(readInterop('mykey.pub'));

async function mint(...args: string[]) {
  const run = await runTool(['mint-token', '-key', KEY, ...args]);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  const token = run.stdout.trim();
  return { token, parsed: parseToken(token)! };
}

test('has the Go signer header byte for byte, and its claims in its order', async () => {
  const before = Math.floor(Date.now() / 1000);
  const { token, parsed } = await mint('-kid', 'mykey', '-aud', 'http://127.0.0.1:18081');
  expect(token.split('.')[0]).toBe(goTokens('go_signer_tokens_raw.decoded.jsonl')[0].token.split('.')[0]);
  expect(Object.keys(parsed.claims)).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'nbf']);
  const { aud, exp, iat, iss, jti, nbf } = parsed.claims as Record<string, number | string>;
  expect([aud, iss]).toEqual(['http://127.0.0.1:18081', 'jwtproxy']);
  expect(iat).toBeGreaterThanOrEqual(before);
  expect([(exp as number) - (iat as number), (iat as number) - (nbf as number)]).toEqual([300, 60]);
  expect(jti).toMatch(/^[A-Za-z0-9+/]{32}$/);
});

test('is signed RS256 with the key: the interop public key verifies it', async () => {
  const { parsed } = await mint('-kid', 'mykey', '-aud', 'http://127.0.0.1:18081');
  expect(crypto.verify('sha256', parsed.signingInput, publicKey, parsed.signature)).toBe(true);
});

test('keeps only scheme://host[:port] of -aud, as the signer does', async () => {
  const { parsed } = await mint('-aud', 'https://Service.Example:8443/some/path?q=1');
  expect(parsed.claims.aud).toBe('https://service.example:8443');
});

test('without -kid the kid is the key thumbprint', async () => {
  const { parsed } = await mint('-aud', 'http://a.example');
  expect(parsed.header.kid).toBe(keyThumbprint(publicKey));
});

test('-iss, -ttl, -max-skew and -nonce-length set what the signer settings would', async () => {
  const { parsed } = await mint('-aud', 'http://a.example', '-iss', 'billing', '-ttl', '90s', '-max-skew', '0s', '-nonce-length', '8');
  const { exp, iat, nbf, iss, jti } = parsed.claims as Record<string, number | string>;
  expect([iss, (exp as number) - (iat as number), nbf]).toEqual(['billing', 90, iat]);
  expect(jti).toHaveLength(8);
});

test('-claim adds claims, JSON values as JSON and others as strings, in sorted order', async () => {
  const { parsed } = await mint('-aud', 'http://a.example', '-claim', 'groups=["admin","dev"]', '-claim', 'sub=alice', '-claim', 'level=3', '-claim', 'code="007"');
  expect(parsed.claims).toMatchObject({ groups: ['admin', 'dev'], sub: 'alice', level: 3, code: '007' });
  expect(Object.keys(parsed.claims)).toEqual(['aud', 'code', 'exp', 'groups', 'iat', 'iss', 'jti', 'level', 'nbf', 'sub']);
});

test('-claim may replace a registered claim, to mint a bad token on purpose', async () => {
  const { parsed } = await mint('-aud', 'http://a.example', '-claim', 'exp=1000');
  expect(parsed.claims.exp).toBe(1000);
});

test('reads JWK key files as generate-key -format jwk writes them, kid included', async () => {
  const directory = tempDir();
  try {
    const keyFile = path.join(directory, 'key.jwk');
    const kid = (await runTool(['generate-key', '-out', keyFile, '-format', 'jwk', '-algorithm', 'ES256'])).stdout.trim();
    const run = await runTool(['mint-token', '-key', keyFile, '-aud', 'http://a.example']);
    expect(parseToken(run.stdout.trim())!.header).toEqual({ alg: 'ES256', kid, typ: 'JWT' });
  } finally {
    await fs.rm(directory, { recursive: true, force: true });
  }
});

test('an unreadable key fails with exit code 1 and names the file', async () => {
  const run = await runTool(['mint-token', '-key', '/nonexistent/key.pem', '-aud', 'http://a.example']);
  expect(run.code).toBe(1);
  expect(run.stderr).toBe('jwtproxy mint-token: private key /nonexistent/key.pem: no such file\n');
});

test('bad input is a usage error with exit code 2', async () => {
  const runs = await Promise.all([
    runTool(['mint-token', '-key', KEY]),
    runTool(['mint-token', '-key', KEY, '-aud', 'not a url']),
    runTool(['mint-token', '-key', KEY, '-aud', 'http://a', '-ttl', '5 minutes']),
    runTool(['mint-token', '-key', KEY, '-aud', 'http://a', '-claim', 'novalue']),
  ]);
  expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2]);
  expect(runs.map((run) => run.stderr.split('\n')[0])).toEqual([
    'jwtproxy mint-token: -aud is required (the URL of the service the token is for)',
    'jwtproxy mint-token: -aud "not a url" is not a URL (e.g. https://service.example:8443)',
    'jwtproxy mint-token: -ttl: "5 minutes" is not a duration (e.g. 90s, 5m, 1h30m)',
    'jwtproxy mint-token: -claim "novalue" is not name=value',
  ]);
  expect(runs.every((run) => run.stdout === '')).toBe(true);
});
