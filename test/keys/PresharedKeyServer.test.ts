import { createPublicKey, generateKeyPair as generateKeyPairCallback } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { verifySignature } from '../../src/jwt/algorithms';
import { parseToken } from '../../src/jwt/token';
import { KeyServerError } from '../../src/keys/KeyServer';
import { PresharedKeyServer, PublicKeyFileError } from '../../src/keys/PresharedKeyServer';
import { interopFile, readInterop } from '../support/interop';

const generateKeyPair = promisify(generateKeyPairCallback);
const MYKEY_PUB = interopFile('mykey.pub');

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'preshared-key-server-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function startedServer(publicKeyPath: string, issuer = 'jwtproxy', keyId = 'mykey'): Promise<PresharedKeyServer> {
  const server = new PresharedKeyServer({ type: 'preshared', issuer, keyId, publicKeyPath });
  await server.start();
  return server;
}

async function keyFile(name: string, pem: string): Promise<string> {
  const file = path.join(folder, name);
  await writeFile(file, pem);
  return file;
}

test('serves the Go preshared public key as RS256 and verifies a token the Go signer minted', async () => {
  const server = await startedServer(MYKEY_PUB);
  const { key, algorithm } = await server.getPublicKey('jwtproxy', 'mykey');
  const line = readInterop('go_signer_tokens_raw.decoded.jsonl').split('\n')[0];
  const token = parseToken(JSON.parse(line).token)!;
  expect(algorithm).toBe('RS256');
  expect(verifySignature(algorithm, key, token.signingInput, token.signature)).toBe(true);
});

test('compares issuer and kid case-insensitively', async () => {
  const server = await startedServer(MYKEY_PUB, 'JwtProxy', 'MyKey');
  const expected = await server.getPublicKey('JwtProxy', 'MyKey');
  await expect(server.getPublicKey('JWTPROXY', 'mykey')).resolves.toBe(expected);
});

test('answers every lookup with the same settled promise', async () => {
  const server = await startedServer(MYKEY_PUB);
  expect(server.getPublicKey('jwtproxy', 'mykey')).toBe(server.getPublicKey('JWTPROXY', 'MYKEY'));
});

test('refuses another issuer with a KeyServerError naming it', async () => {
  const server = await startedServer(MYKEY_PUB);
  const lookup = server.getPublicKey('someone-else', 'mykey');
  await expect(lookup).rejects.toBeInstanceOf(KeyServerError);
  await expect(lookup).rejects.toThrow('issuer "someone-else" is unknown: the preshared key server only holds the key of issuer "jwtproxy" with kid "mykey"');
});

test('refuses another kid with a KeyServerError naming it', async () => {
  const server = await startedServer(MYKEY_PUB);
  await expect(server.getPublicKey('jwtproxy', 'otherkey')).rejects.toThrow(/^kid "otherkey" is unknown/);
});

test('refuses lookups before start and after stop, saying it is not started', async () => {
  const server = new PresharedKeyServer({ type: 'preshared', issuer: 'jwtproxy', keyId: 'mykey', publicKeyPath: MYKEY_PUB });
  await expect(server.getPublicKey('jwtproxy', 'mykey')).rejects.toBeInstanceOf(KeyServerError);
  await expect(server.getPublicKey('jwtproxy', 'mykey')).rejects.toThrow('the preshared key server is not started');
  await server.start();
  await server.stop();
  await expect(server.getPublicKey('jwtproxy', 'mykey')).rejects.toThrow('the preshared key server is not started');
});

test('accepts a PKCS#1 "RSA PUBLIC KEY" file', async () => {
  const pkcs1 = createPublicKey(await readFile(MYKEY_PUB)).export({ type: 'pkcs1', format: 'pem' }) as string;
  const server = await startedServer(await keyFile('pkcs1.pem', pkcs1));
  await expect(server.getPublicKey('jwtproxy', 'mykey')).resolves.toMatchObject({ algorithm: 'RS256' });
});

test('accepts an EC P-256 key as ES256', async () => {
  const { publicKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  const server = await startedServer(await keyFile('p256.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string));
  await expect(server.getPublicKey('jwtproxy', 'mykey')).resolves.toMatchObject({ algorithm: 'ES256' });
});

test('accepts an Ed25519 key as EdDSA', async () => {
  const { publicKey } = await generateKeyPair('ed25519');
  const server = await startedServer(await keyFile('ed25519.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string));
  await expect(server.getPublicKey('jwtproxy', 'mykey')).resolves.toMatchObject({ algorithm: 'EdDSA' });
});

test('fails to start on a missing file, naming it', async () => {
  const missing = path.join(folder, 'missing.pem');
  const start = new PresharedKeyServer({ type: 'preshared', issuer: 'i', keyId: 'k', publicKeyPath: missing }).start();
  await expect(start).rejects.toBeInstanceOf(PublicKeyFileError);
  await expect(start).rejects.toThrow(`public key file ${missing}: cannot be read (ENOENT)`);
});

test('fails to start on a private key file, saying to extract the public key', async () => {
  const privateKey = interopFile('mykey.key');
  await expect(startedServer(privateKey)).rejects.toThrow(`public key file ${privateKey}: holds a PEM "RSA PRIVATE KEY" block: it holds a private key, which must not be given to a verifier`);
});

test('fails to start on a file that is not PEM', async () => {
  const file = await keyFile('not-pem.txt', 'hello');
  await expect(startedServer(file)).rejects.toThrow(`public key file ${file}: is not PEM`);
});

test('fails to start on a PUBLIC KEY block that does not decode', async () => {
  const file = await keyFile('corrupt.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
  await expect(startedServer(file)).rejects.toThrow(`public key file ${file}: its "PUBLIC KEY" block cannot be decoded`);
});

test('fails to start on an RSA key under 2048 bits', async () => {
  const { publicKey } = await generateKeyPair('rsa', { modulusLength: 1024 });
  const file = await keyFile('rsa1024.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
  await expect(startedServer(file)).rejects.toThrow(`public key file ${file}: RSA keys must have at least 2048 bits`);
});

test('fails to start on an EC key off the P-256 curve', async () => {
  const { publicKey } = await generateKeyPair('ec', { namedCurve: 'P-384' });
  const file = await keyFile('p384.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
  await expect(startedServer(file)).rejects.toThrow(`public key file ${file}: EC keys must be on the P-256 curve`);
});
