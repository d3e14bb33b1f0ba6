// The destinations the signer signs for: how allowed_destinations entries are read and matched, and
// the link-local and metadata addresses refused unless an entry names them.
import { parseConnectTarget } from '../../src/proxy/mitm/connectTarget';
import { DestinationPolicy, DestinationRuleError, parseDestinationRule } from '../../src/signer/DestinationPolicy';

const policy = (...entries: string[]) => new DestinationPolicy(entries.map(parseDestinationRule));
/** A destination read as a CONNECT target is: `host:port`, canonical. */
const to = (hostPort: string) => parseConnectTarget(hostPort);

function rejection(entry: string): DestinationRuleError {
  try {
    parseDestinationRule(entry);
  } catch (error) {
    return error as DestinationRuleError;
  }
  throw new Error(`${entry} was accepted`);
}

describe('allowed_destinations entries', () => {
  test('a host without a port allows it on every port', () => {
    const allowed = policy('api.example.com');
    expect(allowed.refusalOf(to('api.example.com:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('api.example.com:8080'))).toBeUndefined();
    expect(allowed.refusalOf(to('other.example.com:443'))).toBe('not_allowed');
  });

  test('a host with a port allows that port only', () => {
    const allowed = policy('10.0.0.5:8443');
    expect(allowed.refusalOf(to('10.0.0.5:8443'))).toBeUndefined();
    expect(allowed.refusalOf(to('10.0.0.5:443'))).toBe('not_allowed');
  });

  test('a host is compared case-insensitively and without its trailing dot', () => {
    expect(policy('API.Example.COM.').refusalOf(to('api.example.com:443'))).toBeUndefined();
    expect(policy('api.example.com').refusalOf(to('API.EXAMPLE.com.:443'))).toBeUndefined();
  });

  test('*.domain allows every name below the domain, at any depth, but not the domain itself', () => {
    const allowed = policy('*.internal.example.com');
    expect(allowed.refusalOf(to('a.internal.example.com:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('a.b.internal.example.com:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('internal.example.com:443'))).toBe('not_allowed');
    expect(allowed.refusalOf(to('evilinternal.example.com:443'))).toBe('not_allowed');
    expect(allowed.refusalOf(to('internal.example.com.evil.test:443'))).toBe('not_allowed');
  });

  test('*.domain:port allows the names below the domain on that port only', () => {
    const allowed = policy('*.example.com:443');
    expect(allowed.refusalOf(to('api.example.com:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('api.example.com:80'))).toBe('not_allowed');
  });

  test('*:port allows any host on that port', () => {
    const allowed = policy('*:443');
    expect(allowed.refusalOf(to('anything.test:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('10.1.2.3:443'))).toBeUndefined();
    expect(allowed.refusalOf(to('anything.test:80'))).toBe('not_allowed');
  });

  test('an IPv6 entry matches the address in any of its spellings', () => {
    const allowed = policy('[fd00:0:0:0::5]:8443');
    expect(allowed.refusalOf(to('[fd00::5]:8443'))).toBeUndefined();
    expect(allowed.refusalOf(to('[FD00::0:5]:8443'))).toBeUndefined();
  });

  test('an IPv4 entry does not match the same address in IPv4-mapped IPv6 form', () => {
    expect(policy('10.0.0.5').refusalOf(to('[::ffff:10.0.0.5]:443'))).toBe('not_allowed');
  });

  test('a name entry does not match an address, nor an address entry a name', () => {
    expect(policy('localhost').refusalOf(to('127.0.0.1:80'))).toBe('not_allowed');
    expect(policy('127.0.0.1').refusalOf(to('localhost:80'))).toBe('not_allowed');
  });

  test.each([
    ['an empty entry', '', 'is empty'],
    ['a scheme', 'https://api.example.com', 'without a scheme, user or path'],
    ['a path', 'api.example.com/v1', 'without a scheme, user or path'],
    ['a wildcard inside a label', '*example.com', 'a wildcard may only be'],
    ['a wildcard in a later label', 'api.*.example.com', 'a wildcard may only be'],
    ['a wildcard over addresses', '*.0.0.10', 'cannot be all digits'],
    ['a wildcard before an IPv6 address', '*.[fd00::1]', 'not addresses'],
    ['a wildcard before an IPv4 address', '*.10.0.0.1', 'not addresses'],
    ['a numeric IPv4 form', '2130706433', 'cannot be all digits'],
    ['an unbracketed IPv6 address', 'fd00::1', 'in brackets'],
    ['a port out of range', 'api.example.com:70000', 'the port must be a number from 1 to 65535'],
    ['an empty port', '*:', 'the port must be a number from 1 to 65535'],
    ['an underscore', 'a_b.example.com', 'the host must be a DNS name'],
  ])('refuses %s, saying why', (_name, entry, reason) => {
    const error = rejection(entry);
    expect(error).toBeInstanceOf(DestinationRuleError);
    expect(error.code).toBe('ERR_DESTINATION_RULE_INVALID');
    expect(error.message).toContain(reason);
  });
});

describe('without allowed_destinations', () => {
  const goDefault = new DestinationPolicy();

  test('every destination is allowed, as the Go signer allows it', () => {
    expect(goDefault.restricted).toBe(false);
    expect(goDefault.refusalOf(to('api.example.com:443'))).toBeUndefined();
    expect(goDefault.refusalOf(to('127.0.0.1:8080'))).toBeUndefined();
    expect(goDefault.refusalOf(to('10.0.0.5:80'))).toBeUndefined();
  });

  test.each([
    ['the instance metadata address', '169.254.169.254:80'],
    ['another link-local IPv4 address', '169.254.1.1:443'],
    ['the instance metadata address as IPv4-mapped IPv6', '[::ffff:169.254.169.254]:80'],
    ['a link-local IPv6 address', '[fe80::1]:443'],
    ['the top of the link-local IPv6 range', '[febf:ffff::1]:443'],
    ['the AWS IPv6 metadata address', '[fd00:ec2::254]:80'],
    ['the Alibaba Cloud metadata address', '100.100.100.200:80'],
    ['the GCP metadata name', 'metadata.google.internal:80'],
    ['the GCP metadata name, fully qualified and in capitals', 'Metadata.Google.Internal.:80'],
    ['the short GCP metadata name', 'metadata:80'],
  ])('%s is refused', (_name, hostPort) => {
    expect(goDefault.refusalOf(to(hostPort))).toBe('link_local_or_metadata');
  });

  test('the neighbours of the refused ranges are allowed', () => {
    expect(goDefault.refusalOf(to('169.253.255.255:80'))).toBeUndefined();
    expect(goDefault.refusalOf(to('100.100.100.201:80'))).toBeUndefined();
    expect(goDefault.refusalOf(to('[fec0::1]:443'))).toBeUndefined();
    expect(goDefault.refusalOf(to('metadata.example.com:80'))).toBeUndefined();
  });
});

describe('link-local and metadata destinations with allowed_destinations', () => {
  test('an entry naming the address allows it', () => {
    expect(policy('169.254.169.254').refusalOf(to('169.254.169.254:80'))).toBeUndefined();
    expect(policy('169.254.169.254:80').refusalOf(to('169.254.169.254:80'))).toBeUndefined();
    expect(policy('metadata.google.internal').refusalOf(to('metadata.google.internal:80'))).toBeUndefined();
  });

  test('an entry naming the address on another port does not allow it', () => {
    expect(policy('169.254.169.254:80').refusalOf(to('169.254.169.254:443'))).toBe('link_local_or_metadata');
  });

  test('wildcards do not allow them', () => {
    expect(policy('*').refusalOf(to('169.254.169.254:80'))).toBe('link_local_or_metadata');
    expect(policy('*:80').refusalOf(to('169.254.169.254:80'))).toBe('link_local_or_metadata');
    expect(policy('*.google.internal').refusalOf(to('metadata.google.internal:80'))).toBe('link_local_or_metadata');
  });

  test('naming one link-local address does not allow the others', () => {
    expect(policy('169.254.169.254').refusalOf(to('169.254.169.253:80'))).toBe('link_local_or_metadata');
  });
});
