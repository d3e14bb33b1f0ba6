// The strict compact-JWS parser: each way a text is refused, by its stable code.
import { decodeBase64url, decodeBase64urlStrict } from '../../src/jwt/base64url';
import type { JwsError, JwsErrorCode } from '../../src/jwt/JwsError';
import { inspectToken, MAX_TOKEN_LENGTH, parseToken, parseTokenStrict } from '../../src/jwt/token';
import { goTokens } from '../support/interop';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
const HEADER = '{"alg":"RS256","kid":"mykey","typ":"JWT"}';
const CLAIMS = '{"iss":"jwtproxy","aud":"http://verifier.test","exp":2000000000,"jti":"j"}';
const SIGNATURE = b64('signature bytes');
/** A token from raw JSON texts (or raw bytes), signature made up. */
const token = (header: string | Buffer = HEADER, claims: string | Buffer = CLAIMS, signature = SIGNATURE) => `${b64(header)}.${b64(claims)}.${signature}`;
const withHeader = (header: string) => token(header);
const withClaims = (claims: string) => token(HEADER, claims);
const codeOf = (text: string, options?: Parameters<typeof inspectToken>[1]) => {
  const inspection = inspectToken(text, options);
  return inspection.ok ? 'ok' : inspection.code;
};

/** A header whose base64url needs padding, and the same header padded. */
const PADDABLE_HEADER = '{"alg":"RS256","kid":"k"}';
const unpadded = b64(PADDABLE_HEADER);
const padded = unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);

describe('tokens that parse', () => {
  test('the Go signer tokens', () => {
    for (const { token: text, header, payload } of goTokens('go_signer_tokens_raw.decoded.jsonl')) {
      expect(parseTokenStrict(text)).toMatchObject({ header, claims: payload });
    }
  });

  test.each([
    ['alg none (the verifier refuses it, as Go: "Invalid JWT signature")', token('{"alg":"none","kid":"mykey"}', CLAIMS, '')],
    ['an empty signature', token(HEADER, CLAIMS, '')],
    ['keys the token carries, which are never read', withHeader('{"alg":"RS256","kid":"k","jwk":{"kty":"oct","k":"c2VjcmV0"},"jku":"http://evil/","x5u":"http://evil/","x5c":["MIIB"]}')],
    ['b64 true', withHeader('{"alg":"RS256","b64":true}')],
    ['member names and strings holding colons, quotes and escapes', withClaims('{"a:b":"c:d","q\\"":"\\":\\\\","e":"\\u00e9\\ud83d\\ude00"}')],
    ['__proto__ once', withClaims('{"__proto__":{"x":1},"exp":1}')],
    ['the same name in two different objects', withClaims('{"a":{"x":1},"b":{"x":2},"x":[{"x":3},{"x":4}]}')],
    ['JSON nested 32 deep', withClaims(`${'{"a":'.repeat(31)}{}${'}'.repeat(31)}`)],
    ['JSON whitespace', withHeader(' {\n "alg" : "RS256" } ')],
    ['a token of exactly the size limit', sizedToken(MAX_TOKEN_LENGTH)],
  ])('%s', (_name, text) => {
    expect(codeOf(text)).toBe('ok');
  });

  test('padding with allowPadding (AWS ALB), also on claims and signature', () => {
    const text = `${padded}.${b64(CLAIMS)}=.${b64('sig')}`;
    expect(b64(CLAIMS).length % 4).toBe(3);
    expect(codeOf(text, { allowPadding: true })).toBe('ok');
    expect(codeOf(text)).toBe('ERR_JWS_BASE64URL');
    expect(codeOf(token(), { allowPadding: true })).toBe('ok');
  });
});

/** A well-formed token of exactly `length` characters: claims padded out, a made-up signature of "A"s. */
function sizedToken(length: number): string {
  for (let fill = Math.floor(((length - 400) * 3) / 4); ; fill++) {
    const signed = `${b64(HEADER)}.${b64(`{"p":"${'x'.repeat(fill)}"}`)}.`;
    const rest = length - signed.length;
    if (rest % 4 !== 1) return signed + 'A'.repeat(rest);
  }
}

describe('tokens refused, by code', () => {
  const cases: [string, string, JwsErrorCode][] = [
    // Sizes
    ['one character over the size limit', `${sizedToken(MAX_TOKEN_LENGTH)}A`, 'ERR_JWS_TOO_LARGE'],
    ['a 100 KB header', withHeader(`{"alg":"RS256","x":"${'x'.repeat(100_000)}"}`), 'ERR_JWS_TOO_LARGE'],
    ['20,000 segments', 'a.'.repeat(20_000), 'ERR_JWS_TOO_LARGE'],
    // Segments
    ['the empty text', '', 'ERR_JWS_SEGMENTS'],
    ['one segment', b64(HEADER), 'ERR_JWS_SEGMENTS'],
    ['two segments', `${b64(HEADER)}.${b64(CLAIMS)}`, 'ERR_JWS_SEGMENTS'],
    ['four segments', `${token()}.${SIGNATURE}`, 'ERR_JWS_SEGMENTS'],
    ['five segments (JWE)', `${token()}.a.b`, 'ERR_JWS_SEGMENTS'],
    ['only dots', '..', 'ERR_JWS_SEGMENTS'],
    ['an empty header', `.${b64(CLAIMS)}.${SIGNATURE}`, 'ERR_JWS_SEGMENTS'],
    ['an empty payload', `${b64(HEADER)}..${SIGNATURE}`, 'ERR_JWS_SEGMENTS'],
    // base64url
    ['a padded header', `${padded}.${b64(CLAIMS)}.${SIGNATURE}`, 'ERR_JWS_BASE64URL'],
    ['padded claims', `${b64(HEADER)}.${b64(CLAIMS)}=.${SIGNATURE}`, 'ERR_JWS_BASE64URL'],
    ['a padded signature', `${b64(HEADER)}.${b64(CLAIMS)}.${b64('sig!')}==`, 'ERR_JWS_BASE64URL'],
    ['base64 "+" in the header', token().replace(/^(.{5})./, '$1+'), 'ERR_JWS_BASE64URL'],
    ['base64 "/" in the signature', `${token(HEADER, CLAIMS, 'ab/c')}`, 'ERR_JWS_BASE64URL'],
    ['a space inside the header', token().replace(/^(.{8})/, '$1 '), 'ERR_JWS_BASE64URL'],
    ['a newline inside the claims', token().replace('.', '.eyJ\n'), 'ERR_JWS_BASE64URL'],
    ['a tab inside the signature', `${token()}\tAA`, 'ERR_JWS_BASE64URL'],
    ['a trailing space', `${token()} `, 'ERR_JWS_BASE64URL'],
    ['a non-canonical last digit in the header', `${nonCanonical(b64(PADDABLE_HEADER))}.${b64(CLAIMS)}.${SIGNATURE}`, 'ERR_JWS_BASE64URL'],
    ['a non-canonical last digit in the claims', `${b64(HEADER)}.${nonCanonical(b64(CLAIMS))}.${SIGNATURE}`, 'ERR_JWS_BASE64URL'],
    ['a non-canonical last digit in the signature', `${b64(HEADER)}.${b64(CLAIMS)}.${nonCanonical(b64('sig!'))}`, 'ERR_JWS_BASE64URL'],
    ['a segment of 4n+1 digits', `${b64(HEADER)}.${b64(CLAIMS)}.${b64('sig')}A`, 'ERR_JWS_BASE64URL'],
    ['a percent-encoded segment', token().replace('.', '.%65'), 'ERR_JWS_BASE64URL'],
    ['a non-ASCII digit', token().replace('.', '.é'), 'ERR_JWS_BASE64URL'],
    // UTF-8
    ['invalid UTF-8 in the header', token(Buffer.concat([Buffer.from('{"alg":"RS256","x":"'), Buffer.from([0xff]), Buffer.from('"}')])), 'ERR_JWS_UTF8'],
    ['an overlong "/" in the claims', token(HEADER, Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])), 'ERR_JWS_UTF8'],
    ['a surrogate encoded as UTF-8', token(HEADER, Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])), 'ERR_JWS_UTF8'],
    ['a truncated UTF-8 sequence', token(HEADER, Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')])), 'ERR_JWS_UTF8'],
    ['a lone high surrogate escape in a value', withClaims('{"sub":"\\ud800"}'), 'ERR_JWS_UTF8'],
    ['a lone low surrogate escape in a name', withClaims('{"\\udc00":1}'), 'ERR_JWS_UTF8'],
    ['a lone surrogate escape in the header', withHeader('{"alg":"RS256","kid":"\\uD800x"}'), 'ERR_JWS_UTF8'],
    // JSON
    ['a UTF-8 byte order mark', token(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(HEADER)])), 'ERR_JWS_JSON'],
    ['a header with trailing garbage', withHeader(`${HEADER}x`), 'ERR_JWS_JSON'],
    ['two header objects', withHeader(`${HEADER}${HEADER}`), 'ERR_JWS_JSON'],
    ['a header that is not JSON', withHeader("{alg:'RS256'}"), 'ERR_JWS_JSON'],
    ['claims that are not JSON', withClaims('exp=1'), 'ERR_JWS_JSON'],
    ['claims nested 33 deep', withClaims(`${'{"a":'.repeat(32)}{}${'}'.repeat(32)}`), 'ERR_JWS_JSON'],
    ['a header nested 1000 deep', withHeader(`{"alg":"RS256","x":${'['.repeat(1000)}${']'.repeat(1000)}}`), 'ERR_JWS_JSON'],
    ['a header that is an array', withHeader('["RS256"]'), 'ERR_JWS_NOT_OBJECT'],
    ['a header that is null', withHeader('null'), 'ERR_JWS_NOT_OBJECT'],
    ['a header that is a string', withHeader('"RS256"'), 'ERR_JWS_NOT_OBJECT'],
    ['a header that is a number', withHeader('1'), 'ERR_JWS_NOT_OBJECT'],
    ['claims that are an array', withClaims('[{"exp":1}]'), 'ERR_JWS_NOT_OBJECT'],
    ['claims that are true', withClaims('true'), 'ERR_JWS_NOT_OBJECT'],
    // Duplicate member names
    ['alg twice', withHeader('{"alg":"none","alg":"RS256"}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['kid twice', withHeader('{"alg":"RS256","kid":"a","kid":"mykey"}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['alg twice, once escaped', withHeader('{"alg":"RS256","\\u0061lg":"none"}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['a duplicate in a nested header object', withHeader('{"alg":"RS256","jwk":{"kty":"RSA","kty":"oct"}}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['a duplicate in an object inside a header array', withHeader('{"alg":"RS256","x":[1,{"a":1,"a":1}]}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['a duplicate whose first value was an object', withHeader('{"alg":"RS256","x":{"a":1,"b":2},"x":3}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['exp twice in the claims', withClaims('{"exp":1,"exp":2000000000}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['aud twice in the claims', withClaims('{"aud":"http://a","aud":"http://verifier.test"}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['a duplicate in a nested claim', withClaims('{"exp":1,"ctx":{"role":"user","role":"admin"}}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    ['__proto__ twice', withClaims('{"__proto__":1,"__proto__":2}'), 'ERR_JWS_DUPLICATE_MEMBER'],
    // crit and b64
    ['crit naming an extension', withHeader('{"alg":"RS256","crit":["exp"],"exp":1}'), 'ERR_JWS_CRIT'],
    ['crit naming b64 (RFC 7797)', withHeader('{"alg":"RS256","b64":false,"crit":["b64"]}'), 'ERR_JWS_CRIT'],
    ['crit that is a string', withHeader('{"alg":"RS256","crit":"exp"}'), 'ERR_JWS_CRIT'],
    ['crit that is an empty list', withHeader('{"alg":"RS256","crit":[]}'), 'ERR_JWS_CRIT'],
    ['crit naming a registered header', withHeader('{"alg":"RS256","crit":["alg"]}'), 'ERR_JWS_CRIT'],
    ['crit holding a number', withHeader('{"alg":"RS256","crit":[1]}'), 'ERR_JWS_CRIT'],
    ['crit that is null', withHeader('{"alg":"RS256","crit":null}'), 'ERR_JWS_CRIT'],
    ['crit that is an object', withHeader('{"alg":"RS256","crit":{}}'), 'ERR_JWS_CRIT'],
    ['b64 false without crit', withHeader('{"alg":"RS256","b64":false}'), 'ERR_JWS_B64'],
    ['b64 as a string', withHeader('{"alg":"RS256","b64":"false"}'), 'ERR_JWS_B64'],
    // alg and typ
    ['no alg', withHeader('{"kid":"mykey","typ":"JWT"}'), 'ERR_JWS_ALG'],
    ['alg null', withHeader('{"alg":null}'), 'ERR_JWS_ALG'],
    ['alg a number', withHeader('{"alg":256}'), 'ERR_JWS_ALG'],
    ['alg a list', withHeader('{"alg":["RS256"]}'), 'ERR_JWS_ALG'],
    ['typ a number', withHeader('{"alg":"RS256","typ":1}'), 'ERR_JWS_TYP'],
    ['typ an object', withHeader('{"alg":"RS256","typ":{"JWT":true}}'), 'ERR_JWS_TYP'],
  ];

  test.each(cases)('%s', (_name, text, code) => {
    expect(codeOf(text)).toBe(code);
    expect(parseToken(text)).toBeUndefined();
    expect(() => parseTokenStrict(text)).toThrow(expect.objectContaining({ code, name: 'JwsError' }) as unknown as JwsError);
  });

  test('a smaller size limit may be asked for', () => {
    expect(codeOf(token(), { maxLength: 64 })).toBe('ERR_JWS_TOO_LARGE');
  });

  test('padding allowed must still be exact and canonical', () => {
    expect(codeOf(`${padded}.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ok');
    expect(padded).toBe(`${unpadded}==`);
    expect(codeOf(`${unpadded}=.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ERR_JWS_BASE64URL');
    expect(codeOf(`${unpadded}===.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ERR_JWS_BASE64URL');
    expect(codeOf(`${b64(HEADER)}==.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ERR_JWS_BASE64URL');
    expect(codeOf(`${nonCanonical(unpadded)}==.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ERR_JWS_BASE64URL');
    expect(codeOf(`${SIGNATURE}==.${b64(CLAIMS)}.${SIGNATURE}`, { allowPadding: true })).toBe('ERR_JWS_BASE64URL');
  });
});

/** The same bytes spelt with a non-zero unused bit in the last digit. */
function nonCanonical(text: string): string {
  if (text.length % 4 === 0) throw new Error(`${text} has no unused bits`);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(text[text.length - 1]);
  const spelt = text.slice(0, -1) + alphabet[last | 1];
  expect(Buffer.from(spelt, 'base64url')).toEqual(Buffer.from(text, 'base64url'));
  return spelt;
}

describe('strict base64url', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  test('accepts a segment exactly when encoding its bytes again gives back the same text', () => {
    const wrong: string[] = [];
    let accepted = 0;
    for (const prefix of ['', 'QU', 'QUJD', 'QUJDRA']) {
      for (const a of alphabet) {
        for (const b of ['', ...alphabet]) {
          const text = prefix + a + b;
          const decoded = decodeBase64urlStrict(text);
          const canonical = text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
          if ((decoded !== undefined) !== canonical || (decoded && !decoded.equals(Buffer.from(text, 'base64url')))) wrong.push(text);
          if (decoded) accepted++;
        }
      }
    }
    expect(wrong).toEqual([]);
    // A last group of 2 digits has 4 canonical last digits of 64, of 3 digits 16, of 4 all; of 1 none.
    expect(accepted).toBe(2 * (64 * 4) + 2 * (16 + 64 * 64));
  });

  test('JWK members keep accepting Go padding', () => {
    expect(decodeBase64url('AQAB')).toEqual(Buffer.from([1, 0, 1]));
    expect(decodeBase64url('AQ==')).toEqual(Buffer.from([1]));
    expect(decodeBase64urlStrict('AQ==')).toBeUndefined();
    expect(decodeBase64urlStrict('AQ==', { allowPadding: true })).toEqual(Buffer.from([1]));
  });
});
