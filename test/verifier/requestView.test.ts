// The request view every consumer reads (rules, excludes, forward-auth answers, upgrades, the
// authorizer's document, logs, the forwarded request), as a table: raw request → normalised
// path, query as forwarded, host, scheme, client, token and carrier. Read by a real HTTP server
// from requests written byte for byte on a real socket.
import * as http from 'node:http';
import * as net from 'node:net';
import { parseConfig } from '../../src/app/loadConfig';
import { ClientCertificateSource } from '../../src/verifier/ClientCertificateSource';
import { RequestReader } from '../../src/verifier/RequestView';
import { exchangeOn } from '../support/exchangeOn';
import { listenOnLoopback } from '../support/loopbackServer';
import { dedent, verifierFileYaml } from '../support/providerVerifier';
import { PRESHARED_KEY_SERVER } from '../support/startVerifier';

function readerFor(extra: string, upstream = 'upstream: http://127.0.0.1:1'): RequestReader {
  const yaml = `${upstream}\naudience: http://api.example/\nkey_server: ${PRESHARED_KEY_SERVER}\n${dedent(extra)}`;
  const [config] = parseConfig(verifierFileYaml(yaml)).verifierProxies;
  return new RequestReader(config.verifier, new ClientCertificateSource(config.verifier.clientCertificates), new Set());
}

/** The view of a request written as `head` (request line and header lines), as JSON. */
async function viewOf(reader: RequestReader, head: string): Promise<Record<string, unknown>> {
  const server = http.createServer((req, res) => {
    const view = reader.read(req, 'http');
    const body = JSON.stringify(typeof view === 'string' ? { unreadable: view } : { ...view, headers: view.headers, clientCertificate: undefined });
    res.writeHead(200, { 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await listenOnLoopback(server);
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  try {
    const answer = await exchangeOn(socket, `${head.split('\n').join('\r\n')}\r\nconnection: close\r\n\r\n`);
    return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
  } finally {
    socket.destroy();
    server.close();
  }
}

const TOKEN = 'aaa.bbb.ccc';
const OTHER = 'xxx.yyy.zzz';

describe('reverse proxy', () => {
  const reader = readerFor('token_sources: [authorization, {header: X-Token}, {cookie: session}, {query: access_token}]\ntrusted_proxies: [10.0.0.0/8]');

  test.each([
    ['GET //admin HTTP/1.1\nhost: a.example', { path: '/admin', rawPath: '//admin', query: '', host: 'a.example' }],
    ['GET /./x/../%61dmin?q=1 HTTP/1.1\nhost: a.example', { path: '/admin', query: 'q=1' }],
    ['GET /a%2fb/%2e%2e/c HTTP/1.1\nhost: a.example', { path: '/c', ambiguousPath: false }],
    // What the upstream receives is the normal form: ambiguous only where an application may read that otherwise.
    ['GET /x/%2e%2e/admin HTTP/1.1\nhost: a.example', { path: '/admin', ambiguousPath: false }],
    ['GET /admin;jsessionid=1 HTTP/1.1\nhost: a.example', { path: '/admin;jsessionid=1', ambiguousPath: true }],
    ['GET /public;x/../admin HTTP/1.1\nhost: a.example', { path: '/admin', ambiguousPath: false }],
    ['GET /files/a%2Fb HTTP/1.1\nhost: a.example', { path: '/files/a%2Fb', ambiguousPath: true }],
    ['GET /a%255Cb HTTP/1.1\nhost: a.example', { ambiguousPath: true }],
    ['GET /p?a=1&access_token=T&b=2 HTTP/1.1\nhost: a.example', { query: 'a=1&b=2', token: { present: true, token: 'T', source: { type: 'query', name: 'access_token' } } }],
    ['GET /p?%61ccess_token=T HTTP/1.1\nhost: a.example', { query: '', token: { present: true, token: 'T' } }],
    [`GET / HTTP/1.1\nhost: a.example\nauthorization: Bearer ${TOKEN}\nx_token: ${TOKEN}`, { token: { present: true, token: TOKEN, source: { type: 'authorization' } } }],
    [`GET / HTTP/1.1\nhost: a.example\nx-token: ${TOKEN}\ncookie: session=${OTHER}`, { token: { present: true, token: TOKEN, ambiguous: true } }],
    [`GET / HTTP/1.1\nhost: a.example\nauthorization: Basic Zm9vOmJhcg==\ncookie: session=${TOKEN}`, { token: { present: true, source: { type: 'authorization' } } }],
    ['GET / HTTP/1.1\nhost: a.example\nx-forwarded-proto: https\nx-forwarded-host: evil.example\nx-forwarded-for: 203.0.113.7', { scheme: 'http', publicHost: 'a.example', client: '127.0.0.1' }],
    ['GET / HTTP/1.1\nhost: a.example/evil', { host: '' }],
    ['GET http://a.example/ HTTP/1.1\nhost: a.example', { unreadable: 'proxy_form' }],
  ])('%s', async (head, expected) => {
    expect(await viewOf(reader, head)).toMatchObject(expected);
  });

  test('rules see the headers the upstream gets: carriers other than the verified token, the proxy’s own and untrusted client addresses are gone', async () => {
    const view = await viewOf(reader, `GET / HTTP/1.1\nhost: a.example\nx-token: ${TOKEN}\nx-real-ip: 203.0.113.7\nx-forwarded-for: 203.0.113.7\ncookie: theme=dark; session=${TOKEN}\nX_Custom: 1`);
    expect(view.headers).toEqual({ host: 'a.example', 'x-token': TOKEN, cookie: `theme=dark; session=${TOKEN}`, 'x-custom': '1' });
  });
});

describe('forward-auth', () => {
  const nginx = readerFor('forward_auth: {gateway: nginx}', '');

  test.each([
    [
      'GET / HTTP/1.1\nhost: auth\nx-original-uri: /x/../admin?q\nx-original-method: POST\nx-original-host: app.example\nx-original-proto: https\nx-forwarded-host: evil.example',
      { method: 'POST', path: '/admin', query: 'q', host: 'app.example', scheme: 'https', ambiguousPath: false, gateway: 'nginx' },
    ],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /public/..%2fadmin\nx-original-host: app.example', { ambiguousPath: true }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /public/%c0%ae%c0%ae/admin\nx-original-host: app.example', { ambiguousPath: true }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /a/..;/admin\nx-original-host: app.example', { ambiguousPath: true }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /caf%C3%A9/%20x\nx-original-host: app.example', { ambiguousPath: false, path: '/caf%C3%A9/%20x' }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /\nx-original-proto: javascript\nx-original-host: app.example', { scheme: 'http' }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /', { unreadable: 'no_host' }],
    ['GET / HTTP/1.1\nhost: auth\nx-original-uri: /a\nx-original-uri: /b\nx-original-host: app.example', { unreadable: 'ambiguous' }],
  ])('%s', async (head, expected) => {
    expect(await viewOf(nginx, head)).toMatchObject(expected);
  });

  test('Envoy: the check request is the original; its Host is the host, X-Forwarded-Host is never read', async () => {
    const envoy = readerFor('forward_auth: {gateway: envoy}', '');
    expect(await viewOf(envoy, 'GET /x/%2e%2e/y HTTP/1.1\nhost: app.example\nx-forwarded-host: evil.example')).toMatchObject({
      path: '/y',
      host: 'app.example',
      ambiguousPath: true,
      gateway: 'envoy',
    });
  });
});
