import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PresharedPrivateKey, PrivateKeyFileError } from '../../src/keys/PresharedPrivateKey';
import { NoSigningKeyError } from '../../src/keys/PrivateKeySource';
import { interopFile, readInterop } from '../support/interop';

let folder: string;

beforeAll(async () => {
  folder = await fs.mkdtemp(path.join(os.tmpdir(), 'jwtproxy-preshared-'));
});

afterAll(async () => {
  await fs.rm(folder, { recursive: true, force: true });
});

async function pemFile(name: string, pem: string): Promise<string> {
  const file = path.join(folder, name);
  await fs.writeFile(file, pem, { mode: 0o600 });
  return file;
}

async function load(file: string, keyId = 'k1'): Promise<PresharedPrivateKey> {
  const source = new PresharedPrivateKey({ keyId, privateKeyPath: file });
  await source.start();
  return source;
}

describe('PresharedPrivateKey', () => {
  it('loads the Go signer key (PKCS#1 "RSA PRIVATE KEY") with the configured kid, for RS256', async () => {
    const source = await load(interopFile('mykey.key'), 'mykey');
    const { key, keyId, algorithm } = source.signingKey();
    expect([keyId, algorithm]).toEqual(['mykey', 'RS256']);
    const data = Buffer.from('payload');
    expect(verify('sha256', data, createPublicKey(readInterop('mykey.pub')), sign('sha256', data, key))).toBe(true);
  });

  it('loads a PKCS#8 "PRIVATE KEY" RSA key for RS256', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = await pemFile('rsa8.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect((await load(file)).signingKey().algorithm).toBe('RS256');
  });

  it('loads a PKCS#8 P-256 key for ES256', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const file = await pemFile('ec8.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect((await load(file)).signingKey().algorithm).toBe('ES256');
  });

  it('loads a SEC1 "EC PRIVATE KEY" preceded by an "EC PARAMETERS" block, as openssl ecparam writes it', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const parameters = '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n';
    const file = await pemFile('ec1.pem', parameters + (privateKey.export({ type: 'sec1', format: 'pem' }) as string));
    expect((await load(file)).signingKey().algorithm).toBe('ES256');
  });

  it('loads a PKCS#8 Ed25519 key for EdDSA', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const file = await pemFile('ed.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect((await load(file)).signingKey().algorithm).toBe('EdDSA');
  });

  it('fails on a missing file with an error naming it', async () => {
    const file = path.join(folder, 'absent.pem');
    const error = await load(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PrivateKeyFileError);
    expect(error).toMatchObject({ code: 'ERR_PRIVATE_KEY_FILE', file, message: `private key ${file}: no such file` });
  });

  it('refuses a public key, saying what the file holds', async () => {
    await expect(load(interopFile('mykey.pub'))).rejects.toThrow(/mykey\.pub: it holds "PUBLIC KEY"; expected a PEM "RSA PRIVATE KEY"/);
  });

  it('refuses an RSA key shorter than 2048 bits', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const file = await pemFile('short.pem', privateKey.export({ type: 'pkcs1', format: 'pem' }) as string);
    await expect(load(file)).rejects.toThrow(`private key ${file}: RSA keys must have at least 2048 bits`);
  });

  it('refuses an EC key on another curve than P-256', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const file = await pemFile('p384.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await expect(load(file)).rejects.toThrow('EC keys must be on the P-256 curve');
  });

  it('refuses an encrypted key with a hint to decrypt it', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
    const file = await pemFile('encrypted.pem', pem);
    await expect(load(file)).rejects.toThrow('the key is encrypted');
  });

  it('refuses a damaged key block, naming the file', async () => {
    const file = await pemFile('damaged.pem', '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n');
    await expect(load(file)).rejects.toThrow(`private key ${file}: not a valid private key`);
  });

  it('throws NoSigningKeyError before it is started', () => {
    const source = new PresharedPrivateKey({ keyId: 'k', privateKeyPath: '/nowhere.pem' });
    expect(() => source.signingKey()).toThrow(NoSigningKeyError);
  });
});
