import { ConnectTargetError, hostHeaderMatchesTarget, parseConnectTarget } from '../../../src/proxy/mitm/connectTarget';

function rejection(target: string): ConnectTargetError {
  try {
    parseConnectTarget(target);
  } catch (error) {
    return error as ConnectTargetError;
  }
  throw new Error(`${target} was accepted`);
}

describe('parseConnectTarget', () => {
  it('accepts a host name and lower-cases it', () => {
    expect(parseConnectTarget('Example.COM:443')).toEqual({
      hostname: 'example.com',
      port: 443,
      authority: 'example.com:443',
      origin: 'https://example.com',
    });
  });

  it('accepts an IPv4 literal', () => {
    expect(parseConnectTarget('127.0.0.1:443')).toEqual({ hostname: '127.0.0.1', port: 443, authority: '127.0.0.1:443', origin: 'https://127.0.0.1' });
  });

  it('accepts a bracketed IPv6 literal and keeps the brackets in authority and origin only', () => {
    expect(parseConnectTarget('[::1]:8443')).toEqual({ hostname: '::1', port: 8443, authority: '[::1]:8443', origin: 'https://[::1]:8443' });
  });

  it('writes IPv6 literals in their canonical form', () => {
    expect(parseConnectTarget('[0:0:0:0:0:0:0:0001]:443').hostname).toBe('::1');
  });

  it('keeps a port other than 443 in the origin', () => {
    expect(parseConnectTarget('api.example.com:8443').origin).toBe('https://api.example.com:8443');
  });

  it('drops leading zeros of the port', () => {
    expect(parseConnectTarget('example.com:000443')).toMatchObject({ port: 443, authority: 'example.com:443', origin: 'https://example.com' });
  });

  it('drops the trailing dot of a fully qualified name', () => {
    expect(parseConnectTarget('example.com.:443').hostname).toBe('example.com');
  });

  it.each([
    ['path traversal', '../../x:443'],
    ['no port', 'x'],
    ['port 0', 'x:0'],
    ['port above 65535', 'x:99999'],
    ['a slash', 'a/b:443'],
    ['an empty port', 'x:'],
    ['a signed port', 'x:+443'],
    ['an empty host', ':443'],
    ['an unbracketed IPv6 address', '::1:443'],
    ['a bracketed IPv6 address without port', '[::1]'],
    ['a name in brackets', '[example.com]:443'],
    ['an IPv6 zone id', '[fe80::1%eth0]:443'],
    ['an empty label', 'a..b:443'],
    ['a label starting with a hyphen', '-a.com:443'],
    ['an underscore', 'a_b.com:443'],
    ['a space', 'exa mple.com:443'],
    ['a shorthand IPv4 address', '127.1:443'],
    ['a numeric IPv4 address', '2130706433:443'],
    ['an IPv4 address with a leading zero', '01.2.3.4:443'],
    ['a label over 63 characters', `${'a'.repeat(64)}.com:443`],
    ['a name over 253 characters', `${'abcdefghi.'.repeat(26)}com:443`],
  ])('rejects %s', (_description, target) => {
    const error = rejection(target);
    expect(error).toBeInstanceOf(ConnectTargetError);
    expect(error.code).toBe('ERR_CONNECT_TARGET_INVALID');
    expect(error.message).toContain('invalid CONNECT target');
  });

  it('says that a port is required', () => {
    expect(rejection('example.com').reason).toMatch(/port is required/);
  });

  it('quotes the target in its message so control characters cannot forge log lines', () => {
    expect(rejection('x\r\nFAKE:443').message).toContain('"x\\r\\nFAKE:443"');
  });
});

describe('hostHeaderMatchesTarget', () => {
  const target = parseConnectTarget('example.com:443');
  const ipv6Target = parseConnectTarget('[::1]:8443');

  it('matches the same host without a port when the target port is 443', () => {
    expect(hostHeaderMatchesTarget('example.com', target)).toBe(true);
  });

  it('matches the same host with an explicit :443', () => {
    expect(hostHeaderMatchesTarget('example.com:443', target)).toBe(true);
  });

  it('ignores case', () => {
    expect(hostHeaderMatchesTarget('EXAMPLE.com', target)).toBe(true);
  });

  it('refuses another host', () => {
    expect(hostHeaderMatchesTarget('evil.example', target)).toBe(false);
  });

  it('refuses another port', () => {
    expect(hostHeaderMatchesTarget('example.com:8443', target)).toBe(false);
  });

  it('refuses a missing Host header', () => {
    expect(hostHeaderMatchesTarget(undefined, target)).toBe(false);
  });

  it('refuses a malformed Host header', () => {
    expect(hostHeaderMatchesTarget('example.com/evil', target)).toBe(false);
  });

  it('matches a bracketed IPv6 host with its port', () => {
    expect(hostHeaderMatchesTarget('[0::1]:8443', ipv6Target)).toBe(true);
  });

  it('treats a bracketed IPv6 host without a port as port 443', () => {
    expect(hostHeaderMatchesTarget('[::1]', ipv6Target)).toBe(false);
    expect(hostHeaderMatchesTarget('[::1]', parseConnectTarget('[::1]:443'))).toBe(true);
  });
});
