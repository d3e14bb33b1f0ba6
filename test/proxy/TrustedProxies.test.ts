import { parseProxyRange, TRUST_NO_PROXY, TrustedProxies } from '../../src/proxy/TrustedProxies';

const trusted = (...entries: string[]) => new TrustedProxies(entries.map((entry) => parseProxyRange(entry)!));

describe('trusted proxies', () => {
  test('an address trusts itself only', () => {
    expect([trusted('10.0.0.1').trusts('10.0.0.1'), trusted('10.0.0.1').trusts('10.0.0.2')]).toEqual([true, false]);
  });

  test('a CIDR range trusts every address under it', () => {
    expect(['10.255.0.1', '11.0.0.1'].map((address) => trusted('10.0.0.0/8').trusts(address))).toEqual([true, false]);
  });

  test('an IPv4 peer on a dual-stack listener (::ffff:a.b.c.d) matches IPv4 ranges', () => {
    expect(trusted('10.0.0.0/8').trusts('::ffff:10.1.2.3')).toBe(true);
  });

  test('IPv6 ranges match IPv6 peers', () => {
    expect(['fd12::1', '::1'].map((address) => trusted('fd00::/8').trusts(address))).toEqual([true, false]);
  });

  test('`unix` trusts peers on a unix socket, which have no address', () => {
    expect([trusted('unix').trusts(undefined), trusted('127.0.0.1').trusts(undefined)]).toEqual([true, false]);
  });

  test('by default no one is trusted', () => {
    expect(['127.0.0.1', '::1', undefined].map((address) => TRUST_NO_PROXY.trusts(address))).toEqual([false, false, false]);
  });

  test.each(['lb.internal', '10.0.0.0/33', '::1/129', '10.0.0.0/x', '10.0.0', ''])('%j is no range', (entry) => {
    expect(parseProxyRange(entry)).toBeUndefined();
  });
});
