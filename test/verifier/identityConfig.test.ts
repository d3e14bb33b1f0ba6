// A verifier's `identity` block: its defaults (Cloudflare's get-identity for the
// cloudflare_access provider), and errors that name the YAML path and the fix.
import { ConfigError } from '../../src/config/ConfigError';
import { parseConfig } from '../../src/app/loadConfig';
import { verifierFileYaml } from '../support/providerVerifier';

const ACCESS = `
upstream: http://127.0.0.1:8000/
provider: {type: cloudflare_access, options: {team_domain: myteam.cloudflareaccess.com, audience_tag: 4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2}}`;
const PRESHARED = `
upstream: http://127.0.0.1:8000/
audience: http://127.0.0.1:8081/
key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: mykey.pub}}`;
const AT = 'jwtproxy.verifier_proxies[0].verifier.identity';

const identityOf = (verifier: string) => parseConfig(verifierFileYaml(verifier)).verifierProxies[0].verifier.identity;

function errorOf(verifier: string): string {
  try {
    parseConfig(verifierFileYaml(verifier));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

test('without an identity block there is no identity expansion', () => {
  expect(identityOf(ACCESS)).toBeUndefined();
});

test("with cloudflare_access, identity: {} asks the team's get-identity with the token as cookie, required, 10000 entries, 2 s", () => {
  const identity = identityOf(`${ACCESS}\nidentity: {}`);
  expect(identity).toEqual({ url: new URL('https://myteam.cloudflareaccess.com/cdn-cgi/access/get-identity'), sendToken: 'cookie', required: true, cacheEntries: 10_000, timeoutMs: 2000 });
});

test('every default can be set: url, send_token, required, cache_entries, timeout', () => {
  const identity = identityOf(`${ACCESS}\nidentity: {url: 'https://identity.example/v1/me', send_token: bearer, required: false, cache_entries: 50, timeout: 500ms}`);
  expect(identity).toEqual({ url: new URL('https://identity.example/v1/me'), sendToken: 'bearer', required: false, cacheEntries: 50, timeoutMs: 500 });
});

test('a generic url is asked with Authorization: Bearer', () => {
  expect(identityOf(`${PRESHARED}\nidentity: {url: 'https://identity.example/v1/me'}`)?.sendToken).toBe('bearer');
});

test('enabled: false turns it off, whatever else the block holds', () => {
  expect(identityOf(`${ACCESS}\nidentity: {enabled: false, timeout: 1s}`)).toBeUndefined();
});

test('without a provider that has an identity endpoint, url is required', () => {
  expect(errorOf(`${PRESHARED}\nidentity: {}`)).toMatch(new RegExp(`^${AT.replace(/[.[\]]/g, '\\$&')}\\.url: is required: the URL that answers the expanded identity of a token`));
});

test.each([
  ['send_token: header', 'send_token: "header" is not one of cookie, bearer'],
  ['timeout: 0', 'timeout: 0 must be a positive duration'],
  ['timeout: soon', 'timeout: "soon" is not a duration'],
  ['cache_entries: 0', 'cache_entries: 0 is out of range (1 to 10000000)'],
  ["url: 'ftp://identity.example/'", 'url: "ftp://identity.example/" must start with http:// or https://'],
  ['requird: false', 'requird: unknown key'],
])('%s is refused at its path', (option, message) => {
  expect(errorOf(`${ACCESS}\nidentity: {${option}}`)).toContain(`${AT}.${message}`);
});
