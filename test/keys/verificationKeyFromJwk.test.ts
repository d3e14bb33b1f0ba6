import { generateKeyPair as generateKeyPairCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { encodeBase64urlPadded } from '../../src/jwt/base64url';
import { InvalidJwkError, verificationKeyFromJwk } from '../../src/keys/verificationKeyFromJwk';

const generateKeyPair = promisify(generateKeyPairCallback);

/** Pads every base64url member, as Go's URLEncoding writes them. */
function padded(jwk: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...jwk };
  for (const name of ['n', 'e', 'x', 'y']) {
    if (typeof out[name] === 'string') out[name] = encodeBase64urlPadded(Buffer.from(out[name] as string, 'base64url'));
  }
  return out;
}

test('an EC P-256 JWK with padded members is an ES256 key', async () => {
  const { publicKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  const key = verificationKeyFromJwk(padded({ ...publicKey.export({ format: 'jwk' }), kid: 'k1' }), 'k1');
  expect(key.algorithm).toBe('ES256');
  expect(key.key.equals(publicKey)).toBe(true);
});

test('an Ed25519 OKP JWK is an EdDSA key', async () => {
  const { publicKey } = await generateKeyPair('ed25519');
  expect(verificationKeyFromJwk({ ...publicKey.export({ format: 'jwk' }), alg: 'EdDSA' }).algorithm).toBe('EdDSA');
});

test('private members are ignored: only the public key is built', async () => {
  const { privateKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  expect(verificationKeyFromJwk(privateKey.export({ format: 'jwk' })).key.type).toBe('public');
});

test('a JWK without kid is accepted for any requested kid', async () => {
  const { publicKey } = await generateKeyPair('ed25519');
  expect(verificationKeyFromJwk(publicKey.export({ format: 'jwk' }), 'anything').algorithm).toBe('EdDSA');
});

test('an encryption key (use "enc") is refused', async () => {
  const { publicKey } = await generateKeyPair('ed25519');
  expect(() => verificationKeyFromJwk({ ...publicKey.export({ format: 'jwk' }), use: 'enc' })).toThrow('the JWK is for use "enc", not "sig"');
});

test('an EC key on a curve no JWS algorithm here uses (P-521) is refused', async () => {
  const { publicKey } = await generateKeyPair('ec', { namedCurve: 'P-521' });
  expect(() => verificationKeyFromJwk(publicKey.export({ format: 'jwk' }))).toThrow(InvalidJwkError);
});

test('an unknown kty is refused', () => {
  expect(() => verificationKeyFromJwk({ kty: 'oct', k: 'AAAA' })).toThrow('unsupported JWK kty "oct": use RSA, EC or OKP');
});

test('a member that is not base64url is refused', () => {
  expect(() => verificationKeyFromJwk({ kty: 'RSA', n: 'not base64!', e: 'AQAB' })).toThrow('the RSA JWK member "n" is missing or not base64url');
});

test('a value that is not an object is refused', () => {
  expect(() => verificationKeyFromJwk([1])).toThrow('the JWK is not a JSON object');
});
