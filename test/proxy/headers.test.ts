import { asciiJson, forwardableRequestHeaders, forwardableResponseHeaders } from '../../src/proxy/headers';

describe('hop-by-hop headers (RFC 9110 §7.6.1)', () => {
  test('are not forwarded, nor the headers the Connection header names', () => {
    const raw = [
      'Host',
      'h',
      'Connection',
      'keep-alive, X-Secret',
      'X-Secret',
      's',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Transfer-Encoding',
      'chunked',
      'Upgrade',
      'x',
      'Proxy-Authorization',
      'p',
      'Accept',
      'a',
    ];
    expect(forwardableRequestHeaders(raw, 'keep-alive, X-Secret')).toEqual(['Host', 'h', 'Accept', 'a']);
  });

  test('names given to drop are left out too, and repeated headers kept in order', () => {
    const raw = ['Cookie', 'a=1', 'X-Forwarded-For', '1.2.3.4', 'Cookie', 'b=2'];
    expect(forwardableRequestHeaders(raw, undefined, new Set(['x-forwarded-for']))).toEqual(['Cookie', 'a=1', 'Cookie', 'b=2']);
  });

  test('a dropped name is dropped in its underscore spellings too, which CGI-style upstreams read as the same header', () => {
    const raw = ['X_Auth_Email', 'admin@corp', 'x_jwtproxy_claims', '{"sub":"admin"}', 'X-Other_Name', 'kept'];
    expect(forwardableRequestHeaders(raw, undefined, new Set(['x-auth-email', 'x-jwtproxy-claims']))).toEqual(['X-Other_Name', 'kept']);
  });

  test('are removed from responses', () => {
    expect(forwardableResponseHeaders({ connection: 'close, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'text/plain' })).toEqual({ 'content-type': 'text/plain' });
  });
});

test('claims JSON is made header-safe: non-ASCII escaped', () => {
  expect(asciiJson({ name: 'Zoë', city: '東京' })).toBe('{"name":"Zo\\u00eb","city":"\\u6771\\u4eac"}');
  expect(JSON.parse(asciiJson({ name: 'Zoë' }))).toEqual({ name: 'Zoë' });
});
