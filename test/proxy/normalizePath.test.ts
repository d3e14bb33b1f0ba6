// The request path's normal form: what the upstream receives and what path rules compare.
import * as path from 'node:path';
import { normalizePath } from '../../src/proxy/normalizePath';
import { upstreamTarget } from '../../src/proxy/UpstreamSet';

describe('normalizePath', () => {
  test.each([
    // Dot segments (RFC 3986 §5.2.4 and its §5.4 examples)
    ['/../admin', '/admin'],
    ['/a/b/c/./../../g', '/a/g'],
    ['/mid/content=5/../6', '/mid/6'],
    ['/a/b/../../../../etc/passwd', '/etc/passwd'],
    ['/.', '/'],
    ['/..', '/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/a/./b', '/a/b'],
    ['/.a/..b/.../a.b', '/.a/..b/.../a.b'],
    // Dots spelt as escapes
    ['/%2e%2e/admin', '/admin'],
    ['/app/%2E%2E/%2e%2e/admin', '/admin'],
    ['/.%2e/', '/'],
    ['/%2e./x', '/x'],
    ['/%2E', '/'],
    // Parameters after dots, read as ".." by Tomcat and Jetty
    ['/..;/admin', '/admin'],
    ['/a/..;jsessionid=1/b', '/b'],
    ['/a/.;x/b', '/a/b'],
    ['/a;v=1/b', '/a;v=1/b'],
    // Slashes
    ['//x', '/x'],
    ['///x//y', '/x/y'],
    ['/a//', '/a/'],
    ['/', '/'],
    ['', '/'],
    ['items', '/items'],
    // Escapes: unreserved decoded, the rest in upper case, stray "%" escaped
    ['/%41%62%63%7e%2d%5f%2E%30', '/Abc~-_.0'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb', '/a%2Fb'],
    ['/%c3%a9', '/%C3%A9'],
    ['/%3a%40%21', '/%3A%40%21'],
    ['/100%', '/100%25'],
    ['/%zz', '/%25zz'],
    ['/%2', '/%252'],
    ['/%252e%252e/admin', '/%252e%252e/admin'],
    ['/%00', '/%00'],
    // Characters a path may not hold
    ['/a b', '/a%20b'],
    ['/a"b<c>d', '/a%22b%3Cc%3Ed'],
    ['/a#b', '/a%23b'],
    ['/{x}|[y]^`', '/%7Bx%7D%7C%5By%5D%5E%60'],
    ['/a\u0000b\tc\u007f', '/a%00b%09c%7F'],
    ['/a\\b', '/a%5Cb'],
    ['/é', '/é'],
    // Sub-delimiters, ":" and "@" are a path's own
    ["/!$&'()*+,;=:@", "/!$&'()*+,;=:@"],
    // Encoded separators stay encoded; once more where they would reveal dots
    ['/..%2Fadmin', '/..%252Fadmin'],
    ['/%2e%2e%2fadmin', '/..%252Fadmin'],
    ['/x/..%2F..%2Fadmin', '/x/..%252F..%252Fadmin'],
    ['/..\\admin', '/..%255Cadmin'],
    ['/..%5cadmin', '/..%255Cadmin'],
    ['/a%2F.%2Fb', '/a%252F.%252Fb'],
    ['/a%2F..b', '/a%2F..b'],
  ])('%j is %j', (input, normal) => {
    expect(normalizePath(input)).toBe(normal);
  });

  test('leaves an ordinary path as it is', () => {
    const ordinary = '/api/v1/users/42/avatar';
    expect(normalizePath(ordinary)).toBe(ordinary);
  });

  /** An upstream that percent-decodes the path once, takes "\" for "/", then resolves dots. */
  function laxUpstreamPath(target: string): string {
    const decoded = target.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return path.posix.normalize(decoded.replace(/\\/g, '/'));
  }

  test('random paths of dots, slashes and escapes never leave the base path, even for a lax upstream', () => {
    const pieces = ['/', '/', '.', '..', '%2e', '%2E', '%2f', '%2F', '%5c', '\\', ';', 'a', '%', '%25', '//'];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < 5000; run++) {
      const length = 1 + Math.floor(random() * 12);
      const input = `/${Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)]).join('')}`;
      const normal = normalizePath(input);
      const segments = normal.split('/').slice(1);
      const problems = [
        !normal.startsWith('/') && 'not absolute',
        segments.some((segment, index) => segment === '' && index !== segments.length - 1) && 'empty segment',
        segments.some((segment) => segment === '.' || segment === '..' || segment.startsWith('.;') || segment.startsWith('..;')) && 'dot segment',
        normalizePath(normal) !== normal && 'not idempotent',
        !upstreamTarget({ basePath: '/app/', baseQuery: '' }, normal).startsWith('/app/') && 'left the base path',
        !laxUpstreamPath(upstreamTarget({ basePath: '/app/', baseQuery: '' }, input)).startsWith('/app') && 'left the base path for a lax upstream',
      ].filter(Boolean);
      if (problems.length) throw new Error(`${JSON.stringify(input)} → ${JSON.stringify(normal)}: ${problems.join(', ')}`);
    }
  });
});

describe('the upstream target of attack paths stays under the base path', () => {
  const app = { basePath: '/app/', baseQuery: 'tenant=1' };
  test.each([
    ['/../admin', '/app/admin?tenant=1'],
    ['/%2e%2e/admin', '/app/admin?tenant=1'],
    ['/app/%2E%2E/%2e%2e/admin', '/app/admin?tenant=1'],
    ['//x', '/app/x?tenant=1'],
    ['/.%2e/', '/app/?tenant=1'],
    ['/..;/admin?x=1', '/app/admin?tenant=1&x=1'],
    ['/%2e%2e%2fadmin', '/app/..%252Fadmin?tenant=1'],
    ['/..?../x=..', '/app/?tenant=1&../x=..'],
  ])('%s → %s', (request, target) => {
    expect(upstreamTarget(app, request)).toBe(target);
  });

  test('a base path without a trailing slash', () => {
    expect(upstreamTarget({ basePath: '/app', baseQuery: '' }, '/../admin')).toBe('/app/admin');
    expect(upstreamTarget({ basePath: '/app', baseQuery: '' }, '/..')).toBe('/app/');
  });

  test('a unix upstream, with no base path, gets the normal path too', () => {
    expect(upstreamTarget({ basePath: '', baseQuery: '' }, '//evil.example/../x?y=1')).toBe('/x?y=1');
  });
});
