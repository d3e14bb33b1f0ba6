// Hostile tokens sent over HTTP to verifier proxies built from YAML as the program builds them:
// each is refused and never reaches the upstream, while the control tokens pass.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildVerifierProxies } from '../../src/app/buildServices';
import { SINGLE_PROCESS } from '../../src/cluster/Topology';
import { parseConfig } from '../../src/app/loadConfig';
import { silentLogger } from '../../src/observability/logger';
import { ProxyMetrics } from '../../src/observability/metrics';
import { tempDir } from '../support/cli';
import { bearer, httpRequest } from '../support/httpRequest';
import { TestUpstream } from '../support/testUpstream';

const NOW_S = Math.floor(Date.now() / 1000);
const AUDIENCE = 'http://verifier.test';
const ISSUER = 'jwtproxy';
const RSA_KID = 'rsa-key';
const EC_KID = 'ec-key';
/** The order of the P-256 group: ECDSA's r and s lie in [1, n-1]. */
const P256_ORDER = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attackerRsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const attackerEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attackerEd = crypto.generateKeyPairSync('ed25519');
const RSA_PUBLIC_PEM = rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string;

// Encodings of a segment.
const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url');
function padded(data: string | Buffer): string {
  const text = Buffer.from(data).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  if (!text.endsWith('=')) throw new Error('no padding to add');
  return text;
}
const standard = (data: string | Buffer) => Buffer.from(data).toString('base64');
/** The same bytes spelt with a non-zero unused bit in the last digit. */
function nonCanonical(text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  if (text.length % 4 === 0) throw new Error('no unused bits to set');
  return text.slice(0, -1) + alphabet[alphabet.indexOf(text[text.length - 1]) | 1];
}

type Json = string | Buffer | Record<string, unknown> | unknown[] | null | number;
/** A string or Buffer is the raw JSON text, used as is; anything else is serialised. */
const jsonText = (value: Json): string | Buffer => (typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value));

const rsaHeader = (extra: Record<string, unknown> = {}) => ({ alg: 'RS256', kid: RSA_KID, typ: 'JWT', ...extra });
const ecHeader = (extra: Record<string, unknown> = {}) => ({ alg: 'ES256', kid: EC_KID, typ: 'JWT', ...extra });

/** Valid claims with a fresh jti; an override of undefined removes the claim. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = { aud: AUDIENCE, exp: NOW_S + 300, iat: NOW_S, iss: ISSUER, jti: crypto.randomBytes(16).toString('hex'), nbf: NOW_S - 60, ...overrides };
  for (const key of Object.keys(all)) if (all[key] === undefined) delete all[key];
  return all;
}
/** Raw claims JSON text with a fresh jti, for duplicate-name and encoding tricks. */
const claimsText = (before = '', after = '') =>
  `{${before}"aud":"${AUDIENCE}","exp":${NOW_S + 300},"iat":${NOW_S},"iss":"${ISSUER}","jti":"${crypto.randomBytes(16).toString('hex')}","nbf":${NOW_S - 60}${after}}`;

type Signer = (signingInput: Buffer) => Buffer;
const rs256: Signer = (input) => crypto.sign('sha256', input, rsa.privateKey);
const es256: Signer = (input) => crypto.sign('sha256', input, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
const signWith =
  (key: crypto.KeyObject, digest: string | null = 'sha256', extra: Partial<crypto.SignKeyObjectInput> = {}): Signer =>
  (input) =>
    crypto.sign(digest, input, { key, ...extra });
const hmac =
  (secret: string | Buffer, hash = 'sha256'): Signer =>
  (input) =>
    crypto.createHmac(hash, secret).update(input).digest();
const unsigned: Signer = () => Buffer.alloc(0);

interface Encoding {
  header?: (data: string | Buffer) => string;
  claims?: (data: string | Buffer) => string;
  signature?: (data: Buffer) => string;
}

/** A compact JWS: the signature covers the segments exactly as encoded, so only the trick can refuse it. */
function jws(header: Json, payload: Json, signer: Signer, encoding: Encoding = {}): string {
  const signingInput = `${(encoding.header ?? b64)(jsonText(header))}.${(encoding.claims ?? b64)(jsonText(payload))}`;
  return `${signingInput}.${(encoding.signature ?? b64)(signer(Buffer.from(signingInput, 'latin1')))}`;
}

const validRsa = () => jws(rsaHeader(), claims(), rs256);
const validEc = () => jws(ecHeader(), claims(), es256);
const segments = (token: string) => token.split('.') as [string, string, string];

/** A valid ES256 token with its raw signature changed by `change`. */
function ecWithSignature(change: (r: Buffer, s: Buffer) => Buffer): string {
  const [header, payload, signature] = segments(validEc());
  const raw = Buffer.from(signature, 'base64url');
  return `${header}.${payload}.${b64(change(raw.subarray(0, 32), raw.subarray(32)))}`;
}
const scalar = (value: bigint) => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
const bigOf = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex')}`);

const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

type Target = 'rsa' | 'ec';
interface HostileCase {
  name: string;
  to: Target;
  token: () => string;
  /** 403 unless said; what the client is told after the Go prefix, when asserted. */
  status?: number;
  reason?: string;
}

const PARSE = 'Could not parse JWT';
const hostile = (name: string, token: () => string, reason?: string, to: Target = 'rsa'): HostileCase => ({ name, to, token, reason });
const hostileEc = (name: string, token: () => string, reason?: string) => hostile(name, token, reason, 'ec');

const CASES: HostileCase[] = [
  // Algorithm confusion: the key decides the algorithm, whatever the header says.
  hostile('alg none, empty signature', () => jws(rsaHeader({ alg: 'none' }), claims(), unsigned)),
  hostile('alg None', () => jws(rsaHeader({ alg: 'None' }), claims(), unsigned)),
  hostile('alg NONE', () => jws(rsaHeader({ alg: 'NONE' }), claims(), unsigned)),
  hostile('alg nOnE', () => jws(rsaHeader({ alg: 'nOnE' }), claims(), unsigned)),
  hostile('alg none keeping a real RS256 signature', () => jws(rsaHeader({ alg: 'none' }), claims(), rs256)),
  hostile('alg none with an empty signature and no typ', () => jws({ alg: 'none', kid: RSA_KID }, claims(), unsigned)),
  hostile('HS256 keyed with the RSA public key PEM', () => jws(rsaHeader({ alg: 'HS256' }), claims(), hmac(RSA_PUBLIC_PEM))),
  hostile('HS256 keyed with the RSA public key DER', () => jws(rsaHeader({ alg: 'HS256' }), claims(), hmac(rsa.publicKey.export({ format: 'der', type: 'spki' })))),
  hostile('HS256 keyed with the PKCS#1 public key PEM', () => jws(rsaHeader({ alg: 'HS256' }), claims(), hmac(rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string))),
  hostile('HS384 keyed with the RSA public key PEM', () => jws(rsaHeader({ alg: 'HS384' }), claims(), hmac(RSA_PUBLIC_PEM, 'sha384'))),
  hostile('HS512 keyed with the RSA public key PEM', () => jws(rsaHeader({ alg: 'HS512' }), claims(), hmac(RSA_PUBLIC_PEM, 'sha512'))),
  hostile('HS256 keyed with the kid', () => jws(rsaHeader({ alg: 'HS256' }), claims(), hmac(RSA_KID))),
  hostile('HS256 keyed with the empty secret', () => jws(rsaHeader({ alg: 'HS256' }), claims(), hmac(''))),
  hostileEc('HS256 keyed with the EC public key PEM', () => jws(ecHeader({ alg: 'HS256' }), claims(), hmac(ec.publicKey.export({ format: 'pem', type: 'spki' }) as string))),
  hostileEc('RS256 against the EC key', () => jws(ecHeader({ alg: 'RS256' }), claims(), signWith(attackerRsa.privateKey))),
  hostileEc('RS256 signed by the verifier’s own RSA key, sent to the EC key', () => jws(ecHeader({ alg: 'RS256' }), claims(), rs256)),
  hostileEc('ES256 with a DER signature instead of raw r||s', () => jws(ecHeader(), claims(), signWith(ec.privateKey, 'sha256', { dsaEncoding: 'der' }))),
  hostileEc('ES384 header over an ES256 signature', () => jws(ecHeader({ alg: 'ES384' }), claims(), es256)),
  hostileEc('ES256 signed by another EC key', () => jws(ecHeader(), claims(), signWith(attackerEc.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }))),
  hostile('PS256 signed by the RS256 key', () => jws(rsaHeader({ alg: 'PS256' }), claims(), signWith(rsa.privateKey, 'sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))),
  hostile('RS256 header over a PSS signature of the RS256 key', () =>
    jws(rsaHeader(), claims(), signWith(rsa.privateKey, 'sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })),
  ),
  hostile('RS384 signed by the RS256 key', () => jws(rsaHeader({ alg: 'RS384' }), claims(), signWith(rsa.privateKey, 'sha384'))),
  hostile('RS512 signed by the RS256 key', () => jws(rsaHeader({ alg: 'RS512' }), claims(), signWith(rsa.privateKey, 'sha512'))),
  hostile('RS256 over a SHA-1 signature', () => jws(rsaHeader(), claims(), signWith(rsa.privateKey, 'sha1'))),
  hostile('ES256 header sent to the RSA key', () => jws(rsaHeader({ alg: 'ES256' }), claims(), signWith(attackerEc.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' }))),
  hostile('EdDSA header sent to the RSA key', () => jws(rsaHeader({ alg: 'EdDSA' }), claims(), signWith(attackerEd.privateKey, null))),
  hostile('alg missing', () => jws({ kid: RSA_KID, typ: 'JWT' }, claims(), rs256), PARSE),
  hostile('alg a number', () => jws(rsaHeader({ alg: 256 }), claims(), rs256), PARSE),
  hostile('alg a list', () => jws(rsaHeader({ alg: ['RS256'] }), claims(), rs256), PARSE),
  hostile('alg an object', () => jws(rsaHeader({ alg: { name: 'RS256' } }), claims(), rs256), PARSE),
  hostile('alg null', () => jws(rsaHeader({ alg: null }), claims(), rs256), PARSE),
  hostile('alg in lower case', () => jws(rsaHeader({ alg: 'rs256' }), claims(), rs256)),
  hostile('alg with a trailing space', () => jws(rsaHeader({ alg: 'RS256 ' }), claims(), rs256)),
  hostile('alg twice, none first', () => jws(`{"alg":"RS256","kid":"${RSA_KID}","alg":"none"}`, claims(), rs256), PARSE),
  hostile('alg twice, signed as written', () => jws(`{"alg":"none","kid":"${RSA_KID}","alg":"RS256"}`, claims(), rs256), PARSE),

  // Key ids: only the key server's own (issuer, kid) finds a key.
  hostile('kid missing', () => jws({ alg: 'RS256', typ: 'JWT' }, claims(), rs256)),
  hostile('kid a number', () => jws(rsaHeader({ kid: 1 }), claims(), rs256)),
  hostile('kid null', () => jws(rsaHeader({ kid: null }), claims(), rs256)),
  hostile('kid a list', () => jws(rsaHeader({ kid: [RSA_KID] }), claims(), rs256)),
  hostile('kid an object', () => jws(rsaHeader({ kid: { id: RSA_KID } }), claims(), rs256)),
  hostile('kid empty', () => jws(rsaHeader({ kid: '' }), claims(), rs256)),
  hostile('kid ../../x', () => jws(rsaHeader({ kid: '../../x' }), claims(), rs256)),
  hostile('kid a path to /etc/passwd', () => jws(rsaHeader({ kid: '../../../../../../etc/passwd' }), claims(), rs256)),
  hostile('kid /dev/null', () => jws(rsaHeader({ kid: '/dev/null' }), claims(), rs256)),
  hostile('kid 9 KB long', () => jws(rsaHeader({ kid: 'k'.repeat(9_000) }), claims(), rs256)),
  hostile('kid with a NUL', () => jws(rsaHeader({ kid: 'rsa\u0000key' }), claims(), rs256)),
  hostile('kid with a trailing NUL', () => jws(rsaHeader({ kid: `${RSA_KID}\u0000` }), claims(), rs256)),
  hostile('kid with SQL', () => jws(rsaHeader({ kid: "' OR '1'='1" }), claims(), rs256)),
  hostile('kid a URL', () => jws(rsaHeader({ kid: 'http://attacker.example/key.pem' }), claims(), rs256)),
  hostile('kid of the EC key on the RSA verifier', () => jws(rsaHeader({ kid: EC_KID }), claims(), rs256)),
  hostile('kid twice', () => jws(`{"alg":"RS256","kid":"other","kid":"${RSA_KID}"}`, claims(), rs256), PARSE),

  // Keys the token brings along are never trusted.
  hostile('an embedded jwk of the attacker’s key', () => jws(rsaHeader({ jwk: attackerRsa.publicKey.export({ format: 'jwk' }) }), claims(), signWith(attackerRsa.privateKey))),
  hostile('an embedded jwk and no kid', () => jws({ alg: 'RS256', jwk: attackerRsa.publicKey.export({ format: 'jwk' }) }, claims(), signWith(attackerRsa.privateKey))),
  hostile('a jku pointing to the attacker', () => jws(rsaHeader({ jku: 'http://127.0.0.1:1/jwks.json' }), claims(), signWith(attackerRsa.privateKey))),
  hostile('an x5u pointing to the attacker', () => jws(rsaHeader({ x5u: 'http://127.0.0.1:1/cert.pem' }), claims(), signWith(attackerRsa.privateKey))),
  hostile('an x5c chain of the attacker', () =>
    jws(rsaHeader({ x5c: [attackerRsa.publicKey.export({ format: 'der', type: 'spki' }).toString('base64')] }), claims(), signWith(attackerRsa.privateKey)),
  ),
  hostileEc('an embedded EC jwk of the attacker', () =>
    jws(ecHeader({ jwk: attackerEc.publicKey.export({ format: 'jwk' }) }), claims(), signWith(attackerEc.privateKey, 'sha256', { dsaEncoding: 'ieee-p1363' })),
  ),

  // Claims of the wrong type or time, correctly signed.
  hostile('exp a string', () => jws(rsaHeader(), claims({ exp: String(NOW_S + 300) }), rs256)),
  hostile('exp null', () => jws(rsaHeader(), claims({ exp: null }), rs256)),
  hostile('exp missing', () => jws(rsaHeader(), claims({ exp: undefined }), rs256)),
  hostile('exp 1e300', () => jws(rsaHeader(), claims({ exp: 1e300 }), rs256)),
  hostile('exp 1e999 (Infinity)', () => jws(rsaHeader(), claimsText().replace(/"exp":\d+/, '"exp":1e999'), rs256)),
  hostile('exp -1e999 (-Infinity)', () => jws(rsaHeader(), claimsText().replace(/"exp":\d+/, '"exp":-1e999'), rs256)),
  hostile('exp negative', () => jws(rsaHeader(), claims({ exp: -1 }), rs256)),
  hostile('exp passed', () => jws(rsaHeader(), claims({ exp: NOW_S - 1, iat: NOW_S - 100, nbf: NOW_S - 100 }), rs256)),
  hostile('exp true', () => jws(rsaHeader(), claims({ exp: true }), rs256)),
  hostile('exp a list', () => jws(rsaHeader(), claims({ exp: [NOW_S + 300] }), rs256)),
  hostile('exp an object', () => jws(rsaHeader(), claims({ exp: { value: NOW_S + 300 } }), rs256)),
  hostile('exp far past the max TTL', () => jws(rsaHeader(), claims({ exp: NOW_S + 86_400 }), rs256)),
  hostile('nbf in the future', () => jws(rsaHeader(), claims({ nbf: NOW_S + 3600 }), rs256)),
  hostile('nbf a string', () => jws(rsaHeader(), claims({ nbf: String(NOW_S - 60) }), rs256)),
  hostile('nbf missing', () => jws(rsaHeader(), claims({ nbf: undefined }), rs256)),
  hostile('iat in the future', () => jws(rsaHeader(), claims({ iat: NOW_S + 3600, exp: NOW_S + 3700 }), rs256)),
  hostile('iat a string', () => jws(rsaHeader(), claims({ iat: String(NOW_S) }), rs256)),
  hostile('iat missing', () => jws(rsaHeader(), claims({ iat: undefined }), rs256)),
  hostile('iat 1e999 (Infinity)', () => jws(rsaHeader(), claimsText().replace(/"iat":\d+/, '"iat":1e999'), rs256)),
  hostile('aud an object', () => jws(rsaHeader(), claims({ aud: { 0: AUDIENCE } }), rs256)),
  hostile('aud a number', () => jws(rsaHeader(), claims({ aud: 1 }), rs256)),
  hostile('aud an empty list', () => jws(rsaHeader(), claims({ aud: [] }), rs256)),
  hostile('aud a list of other audiences', () => jws(rsaHeader(), claims({ aud: ['http://other.test', 'http://verifier.test.evil'] }), rs256)),
  hostile('aud a list holding an object', () => jws(rsaHeader(), claims({ aud: [{ aud: AUDIENCE }] }), rs256)),
  hostile('aud empty', () => jws(rsaHeader(), claims({ aud: '' }), rs256)),
  hostile('aud missing', () => jws(rsaHeader(), claims({ aud: undefined }), rs256)),
  hostile('aud with user info before another host', () => jws(rsaHeader(), claims({ aud: `${AUDIENCE}@attacker.example` }), rs256)),
  hostile('aud of another scheme', () => jws(rsaHeader(), claims({ aud: 'https://verifier.test' }), rs256)),
  hostile('iss a number', () => jws(rsaHeader(), claims({ iss: 1 }), rs256)),
  hostile('iss a list', () => jws(rsaHeader(), claims({ iss: [ISSUER] }), rs256)),
  hostile('iss null', () => jws(rsaHeader(), claims({ iss: null }), rs256)),
  hostile('iss missing', () => jws(rsaHeader(), claims({ iss: undefined }), rs256)),
  hostile('iss another issuer', () => jws(rsaHeader(), claims({ iss: 'attacker' }), rs256)),
  hostile('jti a number', () => jws(rsaHeader(), claims({ jti: 42 }), rs256)),
  hostile('jti empty', () => jws(rsaHeader(), claims({ jti: '' }), rs256)),
  hostile('jti missing', () => jws(rsaHeader(), claims({ jti: undefined }), rs256)),
  hostile('jti null', () => jws(rsaHeader(), claims({ jti: null }), rs256)),
  hostile('jti an object', () => jws(rsaHeader(), claims({ jti: { id: 'x' } }), rs256)),

  // Structure.
  hostile('two segments', () => segments(validRsa()).slice(0, 2).join('.'), PARSE),
  hostile('four segments', () => `${validRsa()}.${b64('x')}`, PARSE),
  hostile('five segments (a JWE shape)', () => `${validRsa()}.${b64('iv')}.${b64('tag')}`, PARSE),
  hostile('an empty header segment', () => `.${segments(validRsa()).slice(1).join('.')}`, PARSE),
  hostile(
    'an empty payload segment',
    () => {
      const [h, , s] = segments(validRsa());
      return `${h}..${s}`;
    },
    PARSE,
  ),
  hostile('only dots', () => '..', PARSE),
  hostile('a single segment', () => segments(validRsa())[0], PARSE),
  hostile('1,000 segments', () => Array.from({ length: 1000 }, () => 'eyJ9').join('.'), PARSE),
  hostile('a space inside the header, signed as sent', () => jws(rsaHeader(), claims(), rs256, { header: (data) => `${b64(data).slice(0, 10)} ${b64(data).slice(10)}` }), PARSE),
  hostile(
    'a tab inside the signature',
    () => {
      const [h, p, s] = segments(validRsa());
      return `${h}.${p}.${s.slice(0, 100)}\t${s.slice(100)}`;
    },
    PARSE,
  ),
  hostile('a padded header, signed as sent', () => jws(rsaHeader({ x: 'ab' }), claims(), rs256, { header: padded }), PARSE),
  hostile('a padded payload, signed as sent', () => jws(rsaHeader(), claims({ x: 'ab' }), rs256, { claims: padded }), PARSE),
  hostile('a padded signature', () => jws(rsaHeader(), claims(), signWith(rsa.privateKey), { signature: padded }), PARSE),
  hostile('a non-canonical header, signed as sent', () => jws(rsaHeader({ x: 'ab' }), claims(), rs256, { header: (data) => nonCanonical(b64(data)) }), PARSE),
  hostile('a non-canonical payload, signed as sent', () => jws(rsaHeader(), claims({ x: 'ab' }), rs256, { claims: (data) => nonCanonical(b64(data)) }), PARSE),
  hostile('a non-canonical spelling of a valid signature', () => jws(rsaHeader(), claims(), rs256, { signature: (sig) => nonCanonical(b64(sig)) }), PARSE),
  hostile('standard base64 (+ and /) in the payload, signed as sent', () => jws(rsaHeader(), claims({ x: '~~~???~~~' }), rs256, { claims: standard }), PARSE),
  hostile(
    'standard base64 in the signature',
    () => {
      const [h, p, s] = segments(validRsa());
      return `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64').replace(/=+$/, '')}`;
    },
    PARSE,
  ),
  hostile('percent-encoded characters', () => validRsa().replace('.', '.%65'), PARSE),
  hostile('a header that is a list', () => jws('["RS256"]', claims(), rs256), PARSE),
  hostile('a header that is null', () => jws('null', claims(), rs256), PARSE),
  hostile('a header that is a number', () => jws('256', claims(), rs256), PARSE),
  hostile('a header that is a string', () => jws('"RS256"', claims(), rs256), PARSE),
  hostile('header JSON with trailing garbage', () => jws(`${JSON.stringify(rsaHeader())}garbage`, claims(), rs256), PARSE),
  hostile('two header objects', () => jws(`${JSON.stringify(rsaHeader())}{"alg":"none"}`, claims(), rs256), PARSE),
  hostile('header JSON in single quotes', () => jws(`{'alg':'RS256','kid':'${RSA_KID}'}`, claims(), rs256), PARSE),
  hostile('claims that are a list', () => jws(rsaHeader(), [claims()], rs256), PARSE),
  hostile('claims that are null', () => jws(rsaHeader(), 'null', rs256), PARSE),
  hostile('claims with trailing garbage', () => jws(rsaHeader(), `${claimsText()},`, rs256), PARSE),
  hostile('claims with exp twice, the first passed', () => jws(rsaHeader(), claimsText(`"exp":${NOW_S - 3600},`), rs256), PARSE),
  hostile('claims with aud twice', () => jws(rsaHeader(), claimsText('"aud":"http://other.test",'), rs256), PARSE),
  hostile('claims with iss twice', () => jws(rsaHeader(), claimsText('', ',"iss":"attacker"'), rs256), PARSE),
  hostile('claims with jti twice', () => jws(rsaHeader(), claimsText('', ',"jti":"replayed"'), rs256), PARSE),
  hostile('claims with a name twice, once escaped', () => jws(rsaHeader(), claimsText('', ',"\\u0069ss":"attacker"'), rs256), PARSE),
  hostile('a duplicate name in a nested claim', () => jws(rsaHeader(), claimsText('', ',"ctx":{"role":"user","role":"admin"}'), rs256), PARSE),
  hostile('a duplicate name nested in the header', () => jws(`{"alg":"RS256","kid":"${RSA_KID}","jwk":{"kty":"RSA","kty":"oct"}}`, claims(), rs256), PARSE),
  hostile('invalid UTF-8 in the header', () => jws(Buffer.concat([Buffer.from(`{"alg":"RS256","kid":"${RSA_KID}","x":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), claims(), rs256), PARSE),
  hostile('invalid UTF-8 in the claims', () => jws(rsaHeader(), Buffer.from(claimsText('', ',"sub":"\u00ff"'), 'latin1'), rs256), PARSE),
  hostile(
    'an overlong UTF-8 "/" in the claims',
    () => jws(rsaHeader(), Buffer.concat([Buffer.from(claimsText('', ',"sub":"').slice(0, -1)), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), rs256),
    PARSE,
  ),
  hostile(
    'a UTF-8 encoded surrogate in the claims',
    () => jws(rsaHeader(), Buffer.concat([Buffer.from(claimsText('', ',"sub":"').slice(0, -1)), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), rs256),
    PARSE,
  ),
  hostile('a lone surrogate escape in the claims', () => jws(rsaHeader(), claimsText('', ',"sub":"admin\\ud800"'), rs256), PARSE),
  hostile('a byte order mark before the header', () => jws(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(rsaHeader()))]), claims(), rs256), PARSE),
  hostile('a byte order mark before the claims', () => jws(rsaHeader(), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(claimsText())]), rs256), PARSE),
  hostile('crit naming an extension', () => jws(rsaHeader({ crit: ['exp'], exp: NOW_S }), claims(), rs256), PARSE),
  hostile('crit empty', () => jws(rsaHeader({ crit: [] }), claims(), rs256), PARSE),
  hostile('crit a string', () => jws(rsaHeader({ crit: 'exp' }), claims(), rs256), PARSE),
  hostile('crit naming a registered header', () => jws(rsaHeader({ crit: ['alg'] }), claims(), rs256), PARSE),
  hostile('crit null', () => jws(rsaHeader({ crit: null }), claims(), rs256), PARSE),
  hostile('crit with an unknown extension and its value', () => jws(rsaHeader({ crit: ['http://example.com/must-check'], 'http://example.com/must-check': true }), claims(), rs256), PARSE),
  hostile('b64 false with crit (RFC 7797)', () => jws(rsaHeader({ b64: false, crit: ['b64'] }), claims(), rs256), PARSE),
  hostile('b64 false without crit', () => jws(rsaHeader({ b64: false }), claims(), rs256), PARSE),
  hostile('typ a number', () => jws(rsaHeader({ typ: 1 }), claims(), rs256), PARSE),
  hostile('claims nested 40 deep', () => jws(rsaHeader(), claimsText('', `,"x":${nested(40)}`), rs256), PARSE),
  hostile('a header nested 5,000 deep', () => jws(`{"alg":"RS256","kid":"${RSA_KID}","x":${nested(5000)}}`, claims(), rs256), PARSE),

  // Sizes. Past 16 KiB of headers (max_header_bytes) the listener answers 431 before the proxy sees the token.
  { ...hostile('a 100 KB header', () => jws(rsaHeader({ x: 'x'.repeat(100_000) }), claims(), rs256)), status: 431 },
  { ...hostile('a 20 KB payload', () => jws(rsaHeader(), claims({ x: 'x'.repeat(20_000) }), rs256)), status: 431 },

  // Signatures.
  hostile('an empty RS256 signature', () => jws(rsaHeader(), claims(), unsigned)),
  hostile('a truncated signature', () => {
    const [h, p, s] = segments(validRsa());
    return `${h}.${p}.${s.slice(0, -4)}`;
  }),
  hostile('a signature one byte short', () => jws(rsaHeader(), claims(), (input) => rs256(input).subarray(1))),
  hostile('a signature one byte long', () => jws(rsaHeader(), claims(), (input) => Buffer.concat([rs256(input), Buffer.from([0])]))),
  hostile('a signature with a leading zero byte', () => jws(rsaHeader(), claims(), (input) => Buffer.concat([Buffer.from([0]), rs256(input)]))),
  hostile('a signature of one byte', () => jws(rsaHeader(), claims(), () => Buffer.from([1]))),
  hostile('the signature of another token', () => {
    const [h, p] = segments(validRsa());
    return `${h}.${p}.${segments(validRsa())[2]}`;
  }),
  hostile('an all-zero RS256 signature', () => jws(rsaHeader(), claims(), () => Buffer.alloc(256))),
  hostile('an all-ones RS256 signature', () => jws(rsaHeader(), claims(), () => Buffer.alloc(256, 0xff))),
  hostile('a signature with one bit flipped', () =>
    jws(rsaHeader(), claims(), (input) => {
      const sig = rs256(input);
      sig[100] ^= 1;
      return sig;
    }),
  ),
  hostile('a signature by another RSA key', () => jws(rsaHeader(), claims(), signWith(attackerRsa.privateKey))),
  hostile('claims changed after signing', () => {
    const [h, , s] = segments(validRsa());
    return `${h}.${b64(JSON.stringify(claims({ sub: 'admin' })))}.${s}`;
  }),
  hostile('the header changed after signing', () => {
    const [, p, s] = segments(validRsa());
    return `${b64(JSON.stringify(rsaHeader({ typ: 'at+jwt' })))}.${p}.${s}`;
  }),
  hostile('the modulus as the signature', () => jws(rsaHeader(), claims(), () => Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url'))),
  hostileEc('ES256 with r and s zero', () => ecWithSignature(() => Buffer.alloc(64))),
  hostileEc('ES256 with r zero', () => ecWithSignature((_r, s) => Buffer.concat([Buffer.alloc(32), s]))),
  hostileEc('ES256 with s zero', () => ecWithSignature((r) => Buffer.concat([r, Buffer.alloc(32)]))),
  hostileEc('ES256 with r = n', () => ecWithSignature((_r, s) => Buffer.concat([scalar(P256_ORDER), s]))),
  hostileEc('ES256 with r = n + 1 (out of range, 1 modulo n)', () => ecWithSignature((_r, s) => Buffer.concat([scalar(P256_ORDER + 1n), s]))),
  hostileEc('ES256 with s = n', () => ecWithSignature((r) => Buffer.concat([r, scalar(P256_ORDER)]))),
  hostileEc('ES256 with all-ones r and s', () => ecWithSignature(() => Buffer.alloc(64, 0xff))),
  hostileEc('ES256 with r and s swapped', () => ecWithSignature((r, s) => Buffer.concat([s, r]))),
  hostileEc('ES256 signature of 63 bytes', () => ecWithSignature((r, s) => Buffer.concat([r, s]).subarray(1))),
  hostileEc('ES256 signature of 65 bytes', () => ecWithSignature((r, s) => Buffer.concat([Buffer.from([0]), r, s]))),
  hostileEc('ES256 with only r', () => ecWithSignature((r) => r)),
  hostileEc('ES256 with an empty signature', () => ecWithSignature(() => Buffer.alloc(0))),
];

const CONTROLS: { name: string; to: Target; token: () => string }[] = [
  { name: 'an RS256 token', to: 'rsa', token: validRsa },
  { name: 'an ES256 token', to: 'ec', token: validEc },
  {
    name: 'an RS256 token naming jwk, jku, x5u and x5c, which are ignored',
    to: 'rsa',
    token: () => jws(rsaHeader({ jwk: attackerRsa.publicKey.export({ format: 'jwk' }), jku: 'http://127.0.0.1:1/', x5u: 'http://127.0.0.1:1/', x5c: ['MIIB'] }), claims(), rs256),
  },
  { name: 'an RS256 token with b64 true', to: 'rsa', token: () => jws(rsaHeader({ b64: true }), claims(), rs256) },
  { name: 'an RS256 token with a paired surrogate escape', to: 'rsa', token: () => jws(rsaHeader(), claimsText('', ',"sub":"\\ud83d\\ude00"'), rs256) },
];

let upstream: TestUpstream;
const urls = {} as Record<Target, string>;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'rsa.pub'), RSA_PUBLIC_PEM);
  fs.writeFileSync(path.join(dir, 'ec.pub'), ec.publicKey.export({ format: 'pem', type: 'spki' }));
  upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  stops.push(() => upstream.close());
  const entry = (kid: string, file: string) => `
  - listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${upstreamUrl}/app/
      audience: ${AUDIENCE}/
      max_ttl: 5m
      key_server: {type: preshared, options: {issuer: ${ISSUER}, key_id: ${kid}, public_key_path: ${path.join(dir, file)}}}`;
  const config = parseConfig(`jwtproxy:\n  signer_proxy: {enabled: false}\n  verifier_proxies:${entry(RSA_KID, 'rsa.pub')}${entry(EC_KID, 'ec.pub')}\n`);
  const [rsaProxy, ecProxy] = buildVerifierProxies(config, { clock: () => NOW_S * 1000, logger: silentLogger, topology: SINGLE_PROCESS, metrics: new ProxyMetrics() });
  for (const proxy of [rsaProxy, ecProxy]) {
    await proxy.start();
    stops.push(() => proxy.stop());
  }
  urls.rsa = rsaProxy.url;
  urls.ec = ecProxy.url;
});

afterAll(async () => {
  while (stops.length) await stops.pop()!();
});

const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
const seenUpstream = (requestPath: string) => upstream.received.filter((request) => request.url === `/app${requestPath}`);

test('the corpus holds over a hundred kinds of hostile token', () => {
  expect(CASES.length).toBeGreaterThan(100);
  expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
});

describe('control tokens pass', () => {
  test.each(CONTROLS)('$name', async ({ name, to, token }) => {
    const requestPath = `/control/${slug(name)}`;
    const answer = await httpRequest(`${urls[to]}${requestPath}`, { headers: bearer(token()) });
    expect([answer.status, answer.body]).toEqual([200, 'ok']);
    expect(seenUpstream(requestPath)).toHaveLength(1);
  });
});

describe('hostile tokens are refused and never reach the upstream', () => {
  test.each(CASES)('$name', async ({ name, to, token, status = 403, reason }) => {
    const requestPath = `/hostile/${slug(name)}`;
    const answer = await httpRequest(`${urls[to]}${requestPath}`, { headers: bearer(token()) });
    expect(answer.status).toBe(status);
    if (status === 403) expect(answer.body).toMatch(/^jwtproxy: unable to verify request: /);
    if (reason) expect(answer.body).toBe(`jwtproxy: unable to verify request: ${reason}`);
    expect(seenUpstream(requestPath)).toEqual([]);
  });
});

describe('twins of a token already used', () => {
  async function send(to: Target, token: string, requestPath: string) {
    return httpRequest(`${urls[to]}${requestPath}`, { headers: bearer(token) });
  }

  test('the same token twice: the second is a replay', async () => {
    const token = validRsa();
    expect((await send('rsa', token, '/twin/first')).status).toBe(200);
    const replay = await send('rsa', token, '/twin/replay');
    expect([replay.status, replay.body]).toEqual([403, "jwtproxy: unable to verify request: Missing or invalid 'jti' claim"]);
    expect(seenUpstream('/twin/replay')).toEqual([]);
  });

  test('an ES256 token with s replaced by n - s: a valid signature (ECDSA is malleable), refused as a replay', async () => {
    const token = validEc();
    const [header, payload, signature] = segments(token);
    const raw = Buffer.from(signature, 'base64url');
    const twinSignature = Buffer.concat([raw.subarray(0, 32), scalar(P256_ORDER - bigOf(raw.subarray(32)))]);
    // JWS does not ask for low s, and neither Go nor OpenSSL signers normalise it: the twin verifies.
    expect(crypto.verify('sha256', Buffer.from(`${header}.${payload}`), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, twinSignature)).toBe(true);
    expect((await send('ec', token, '/twin/ec-first')).status).toBe(200);
    const twin = await send('ec', `${header}.${payload}.${b64(twinSignature)}`, '/twin/ec-high-s');
    expect([twin.status, twin.body]).toEqual([403, "jwtproxy: unable to verify request: Missing or invalid 'jti' claim"]);
    expect(seenUpstream('/twin/ec-high-s')).toEqual([]);
  });
});
