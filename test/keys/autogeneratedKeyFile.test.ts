import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { keyThumbprint } from '../../src/keys/keyThumbprint';
import type { SigningKey } from '../../src/keys/PrivateKeySource';
import { readStoredKey, StoredKeyError, storedKeyJson, writeStoredKey } from '../../src/keys/storedKeyFile';
import { readInterop } from '../support/interop';

const goKey = createPrivateKey(readInterop('mykey.key'));
const goPublicKey = createPublicKey(readInterop('mykey.pub'));
const goKid = keyThumbprint(goKey);

const pad = (text: string) => text + '='.repeat((4 - (text.length % 4)) % 4);

/** The file the Go signer writes for mykey (go-jose: kty, kid, alg "rsa", n, e, d, p, q). */
function goFile(transform: (value: string) => string = (value) => value): string {
  const jwk = goKey.export({ format: 'jwk' }) as Record<string, string>;
  const members: Record<string, string> = { kty: 'RSA', kid: goKid, alg: 'rsa' };
  for (const name of ['n', 'e', 'd', 'p', 'q']) members[name] = transform(jwk[name]);
  return JSON.stringify(members);
}

/** True when the key signs what mykey.pub verifies. */
function isGoKey(key: KeyObject): boolean {
  const data = Buffer.from('interop');
  return verify('sha256', data, goPublicKey, sign('sha256', data, key));
}

let folder: string;

beforeEach(async () => {
  folder = await fs.mkdtemp(path.join(os.tmpdir(), 'jwtproxy-keyfile-'));
});

afterEach(async () => {
  await fs.rm(folder, { recursive: true, force: true });
});

describe('the stored key file (Go format)', () => {
  it('writes exactly the Go members in go-jose order: kty, kid, alg "rsa", n, e, d, p, q', async () => {
    const file = path.join(folder, 'jwtproxy.jwk');
    await writeStoredKey(file, { key: goKey, keyId: goKid, algorithm: 'RS256' });
    const text = await fs.readFile(file, 'utf8');
    expect(text).toBe(goFile());
    const members = JSON.parse(text) as Record<string, string>;
    expect(Object.keys(members)).toEqual(['kty', 'kid', 'alg', 'n', 'e', 'd', 'p', 'q']);
    expect(members.alg).toBe('rsa');
    expect(members.kid).toBe(goKid);
    // go-jose writes members unpadded (its base64URLEncode strips "="); the kid keeps Go's padding.
    expect(members.n).not.toContain('=');
    expect(members.kid.endsWith('=')).toBe(true);
  });

  it('creates the file with mode 0600 and a missing folder with mode 0700', async () => {
    const file = path.join(folder, 'config', 'jwtproxy', 'svc.jwk');
    await writeStoredKey(file, { key: goKey, keyId: goKid, algorithm: 'RS256' });
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('replaces an existing file without leaving temporary files', async () => {
    const file = path.join(folder, 'svc.jwk');
    await fs.writeFile(file, 'old', { mode: 0o644 });
    await writeStoredKey(file, { key: goKey, keyId: goKid, algorithm: 'RS256' });
    expect(await fs.readdir(folder)).toEqual(['svc.jwk']);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('reads a file written by the Go signer (unpadded members, no dp/dq/qi)', async () => {
    const file = path.join(folder, 'svc.jwk');
    await fs.writeFile(file, goFile());
    const stored = (await readStoredKey(file)) as SigningKey;
    expect(stored.keyId).toBe(goKid);
    expect(stored.algorithm).toBe('RS256');
    expect(isGoKey(stored.key)).toBe(true);
  });

  it('reads a file whose members carry base64url padding', async () => {
    const file = path.join(folder, 'svc.jwk');
    await fs.writeFile(file, goFile(pad));
    const stored = (await readStoredKey(file)) as SigningKey;
    expect(isGoKey(stored.key)).toBe(true);
  });

  it('reads back the EC P-256 and Ed25519 keys it writes', async () => {
    for (const [type, algorithm] of [
      ['ec', 'ES256'],
      ['ed25519', 'EdDSA'],
    ] as const) {
      const { privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519');
      const file = path.join(folder, `${type}.jwk`);
      await writeStoredKey(file, { key: privateKey, keyId: keyThumbprint(privateKey), algorithm });
      const stored = (await readStoredKey(file)) as SigningKey;
      expect(stored.algorithm).toBe(algorithm);
      expect(stored.keyId).toBe(keyThumbprint(privateKey));
      expect(stored.key.equals(privateKey)).toBe(true);
    }
  });

  it('computes the Go kid when the file has none', async () => {
    const file = path.join(folder, 'svc.jwk');
    const members = JSON.parse(goFile()) as Record<string, string>;
    delete members.kid;
    await fs.writeFile(file, JSON.stringify(members));
    expect((await readStoredKey(file))?.keyId).toBe(goKid);
  });

  it('answers undefined when there is no stored key yet', async () => {
    expect(await readStoredKey(path.join(folder, 'absent.jwk'))).toBeUndefined();
  });

  it('refuses an inconsistent RSA key (p × q ≠ n), naming the file', async () => {
    const file = path.join(folder, 'svc.jwk');
    const members = JSON.parse(goFile()) as Record<string, string>;
    members.p = members.q;
    await fs.writeFile(file, JSON.stringify(members));
    const error = await readStoredKey(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoredKeyError);
    expect(error).toMatchObject({ code: 'ERR_STORED_KEY', file });
    expect((error as Error).message).toContain(file);
  });

  it('refuses a file that is not JSON, naming the file', async () => {
    const file = path.join(folder, 'svc.jwk');
    await fs.writeFile(file, '-----BEGIN RSA PRIVATE KEY-----');
    await expect(readStoredKey(file)).rejects.toThrow(`cannot use the stored private key ${file}: it is not JSON`);
  });

  it('serialises without a trailing newline, as Go writes the file', () => {
    expect(storedKeyJson({ key: goKey, keyId: goKid, algorithm: 'RS256' }).endsWith('}')).toBe(true);
  });
});
