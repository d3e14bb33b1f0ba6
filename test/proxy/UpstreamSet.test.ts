import { joinPaths, upstreamTarget, UpstreamSet } from '../../src/proxy/UpstreamSet';

describe('the upstream request target', () => {
  test.each([
    ['/base/', '/items', '/base/items'],
    ['/base', 'items', '/base/items'],
    ['/base', '/items', '/base/items'],
    ['/base/', 'items', '/base/items'],
    ['/', '/', '/'],
  ])('%s joined with %s is %s (one slash, as Go)', (base, path, joined) => {
    expect(joinPaths(base, path)).toBe(joined);
  });

  test('the upstream query comes first, then the request query', () => {
    expect(upstreamTarget({ basePath: '/api/', baseQuery: 'key=1' }, '/v1?page=2')).toBe('/api/v1?key=1&page=2');
    expect(upstreamTarget({ basePath: '/api/', baseQuery: '' }, '/v1?page=2')).toBe('/api/v1?page=2');
    expect(upstreamTarget({ basePath: '/api/', baseQuery: 'key=1' }, '/v1')).toBe('/api/v1?key=1');
  });

  test('a unix upstream keeps the request path as it is', () => {
    expect(upstreamTarget({ basePath: '', baseQuery: '' }, '/x/y?z=1')).toBe('/x/y?z=1');
  });
});

describe('choosing an upstream', () => {
  let now = 1_000_000;
  const set = () =>
    new UpstreamSet(['http://a:1/', 'http://b:2/', 'http://c:3/'], {
      failureTimeoutMs: 10_000,
      clock: () => now,
      insecureSkipVerify: false,
      trustedCertificates: [],
      timeouts: { connectMs: 5_000, responseMs: 60_000, bodyMs: 300_000 },
    });

  test('goes round robin', () => {
    const upstreams = set();
    expect([1, 2, 3, 4].map(() => upstreams.pick().origin)).toEqual(['http://a:1', 'http://b:2', 'http://c:3', 'http://a:1']);
    return upstreams.destroy();
  });

  test('skips a failed upstream until its failure timeout has passed', () => {
    const upstreams = set();
    const first = upstreams.pick();
    upstreams.markFailed(first);
    expect([1, 2, 3, 4].map(() => upstreams.pick().origin)).toEqual(['http://b:2', 'http://c:3', 'http://b:2', 'http://c:3']);
    now += 10_001;
    expect([1, 2, 3].map(() => upstreams.pick().origin)).toContain('http://a:1');
    return upstreams.destroy();
  });

  test('when every upstream failed, tries the one that recovers first', () => {
    const upstreams = set();
    const [a, b, c] = [upstreams.pick(), upstreams.pick(), upstreams.pick()];
    upstreams.markFailed(b);
    now += 1;
    upstreams.markFailed(c);
    now += 1;
    upstreams.markFailed(a);
    expect(upstreams.pick().origin).toBe('http://b:2');
    return upstreams.destroy();
  });
});
