import { ipAddressBytes } from '../../../src/proxy/mitm/x509';

describe('ipAddressBytes', () => {
  it('gives the 4 bytes of an IPv4 address', () => {
    expect(ipAddressBytes('192.0.2.10')).toEqual(Buffer.from([192, 0, 2, 10]));
  });

  it('gives the 16 bytes of a compressed IPv6 address', () => {
    expect(ipAddressBytes('2001:db8::1')?.toString('hex')).toBe('20010db8000000000000000000000001');
  });

  it('reads an IPv6 address with an embedded IPv4 address', () => {
    expect(ipAddressBytes('::ffff:192.0.2.10')?.toString('hex')).toBe('00000000000000000000ffffc000020a');
  });

  it('reads a fully written IPv6 address', () => {
    expect(ipAddressBytes('fe80:0:0:0:0:0:0:1')?.toString('hex')).toBe('fe800000000000000000000000000001');
  });

  it('gives nothing for a host name', () => {
    expect(ipAddressBytes('example.com')).toBeUndefined();
  });
});
