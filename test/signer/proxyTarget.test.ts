// The absolute-URI request target of a plain-HTTP proxy request: read with the CONNECT target's
// rules, so both refuse the same hosts, and with the canonical origin as the token's audience.
import { parseProxyTarget, ProxyTargetError } from '../../src/signer/proxyTarget';

function rejection(target: string): ProxyTargetError {
  try {
    parseProxyTarget(target);
  } catch (error) {
    return error as ProxyTargetError;
  }
  throw new Error(`${target} was accepted`);
}

describe('parseProxyTarget', () => {
  test('reads the origin, Host, path and destination of an http URL', () => {
    expect(parseProxyTarget('http://api.example.com:8080/items?page=2')).toEqual({
      origin: 'http://api.example.com:8080',
      audience: 'http://api.example.com:8080',
      host: 'api.example.com:8080',
      path: '/items?page=2',
      destination: { hostname: 'api.example.com', port: 8080, authority: 'api.example.com:8080' },
    });
  });

  test('the destination port of a URL without one is the scheme default', () => {
    expect(parseProxyTarget('http://api.example.com/').destination.port).toBe(80);
    expect(parseProxyTarget('https://api.example.com/').destination.port).toBe(443);
  });

  test.each([
    ['upper case', 'HTTP://API.Example.COM/x', 'http://api.example.com'],
    ['the default port written out', 'http://api.example.com:80/x', 'http://api.example.com'],
    ['the https default port written out', 'https://api.example.com:443/x', 'https://api.example.com'],
    ['an empty port', 'http://api.example.com:/x', 'http://api.example.com'],
    ['a port with leading zeros', 'http://127.0.0.1:08081/x', 'http://127.0.0.1:8081'],
    ['a trailing dot', 'http://api.example.com./x', 'http://api.example.com'],
    ['an IPv6 address in a long form', 'http://[0:0:0:0:0:0:0:1]:8080/x', 'http://[::1]:8080'],
  ])('the audience is the canonical origin, whatever the client wrote: %s', (_name, target, audience) => {
    const parsed = parseProxyTarget(target);
    expect(parsed.audience).toBe(audience);
    expect(parsed.origin).toBe(audience);
    expect(`${new URL(audience).protocol}//${parsed.host}`).toBe(audience);
  });

  test('the path is what follows the authority, and / when nothing does', () => {
    expect(parseProxyTarget('http://a.example/deep/path?q=1#frag').path).toBe('/deep/path?q=1');
    expect(parseProxyTarget('http://a.example').path).toBe('/');
    expect(parseProxyTarget('http://a.example?q=1').path).toBe('/?q=1');
  });

  test.each([
    ['a hexadecimal IPv4 form', 'http://0x7f.1/'],
    ['a decimal IPv4 form', 'http://2130706433/'],
    ['an octal IPv4 form', 'http://0177.0.0.1/'],
    ['a shorthand IPv4 form', 'http://127.1/'],
    ['a percent-encoded host', 'http://%31%32%37.0.0.1/'],
    ['an IPv6 zone id', 'http://[fe80::1%25eth0]/'],
    ['an unbracketed IPv6 address', 'http://::1/'],
    ['a port above 65535', 'http://api.example.com:65536/'],
    ['a port 0', 'http://api.example.com:0/'],
    ['an underscore', 'http://a_b.example.com/'],
    ['a backslash', 'http://a.example\\b.example/'],
    ['user information', 'http://user:secret@api.example.com/'],
    ['an empty host', 'http:///x'],
    ['another scheme', 'ftp://api.example.com/'],
    ['no scheme', 'api.example.com:80'],
  ])('refuses %s, as CONNECT does', (_name, target) => {
    const error = rejection(target);
    expect(error).toBeInstanceOf(ProxyTargetError);
    expect(error.code).toBe('ERR_PROXY_TARGET_INVALID');
    expect(error.message).toMatch(/^invalid request target "/);
  });

  test('says why a numeric host form is refused', () => {
    expect(rejection('http://2130706433/').message).toBe('invalid request target "http://2130706433/": the last label of a host name cannot be all digits (not a dotted-quad IPv4 address)');
  });

  test('quotes the target in its message so control characters cannot forge log lines', () => {
    expect(rejection('http://x\r\nFAKE/').message).toContain('"http://x\\r\\nFAKE/"');
  });
});
