// The destinations the signer signs for, through the real signer: allowed_destinations applied to
// CONNECT targets and absolute-URI requests alike (403 and a log line), link-local and metadata
// addresses refused even without the list, and the warning of a signer open beyond loopback.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createLogger } from '../../src/observability/logger';
import { generateCertificateAuthority } from '../../src/proxy/mitm/CertificateAuthority';
import { tempDir } from '../support/cli';
import { decodedBearer } from '../support/decodedBearer';
import { exchangeOn } from '../support/exchangeOn';
import { httpRequest } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { proxyRequest } from '../support/proxyRequest';
import { startProxies } from '../support/startProxies';
import { TestUpstream } from '../support/testUpstream';

const PRESHARED_PRIVATE_KEY = `{type: preshared, options: {key_id: mykey, private_key_path: ${interopFile('mykey.key')}}}`;

interface LogLine {
  level: string;
  msg: string;
  destination?: string;
  reason?: string;
}

let caFile: string;
let caKeyFile: string;

beforeAll(async () => {
  const dir = tempDir();
  const ca = await generateCertificateAuthority({ commonName: 'Destination test MITM CA', days: 1 });
  caFile = path.join(dir, 'ca.crt');
  caKeyFile = path.join(dir, 'ca.key');
  fs.writeFileSync(caFile, ca.certPem);
  fs.writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
});

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

interface Signer {
  url: string;
  port: number;
  logs: LogLine[];
}

/** A signer with the MITM CA; `lines` go inside signer_proxy, indented by 4 spaces. */
async function startSigner(lines = '', listen = '127.0.0.1:0'): Promise<Signer> {
  const logs: LogLine[] = [];
  const logger = createLogger('info', { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const proxies = await startProxies(
    `jwtproxy:
  signer_proxy:
    listen_addr: ${listen}
    ca_key_file: ${caKeyFile}
    ca_crt_file: ${caFile}
${lines}
    signer:
      private_key: ${PRESHARED_PRIVATE_KEY}
`,
    { logger },
  );
  running.push(proxies);
  const url = proxies.signer!.url;
  return { url, port: Number(new URL(url).port), logs };
}

async function upstream(): Promise<{ upstream: TestUpstream; url: string; authority: string }> {
  const server = new TestUpstream();
  const url = await server.listen();
  running.push({ stop: () => server.close() });
  return { upstream: server, url, authority: new URL(url).host };
}

/** Sends `CONNECT target` on a new connection and reads the answer. */
async function connect(port: number, target: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  try {
    return await exchangeOn(socket, `CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
  } finally {
    socket.destroy();
  }
}

const FORBIDDEN = (authority: string) => new RegExp(`^HTTP/1.1 403 Forbidden\r\n[^]*\r\n\r\njwtproxy: destination not allowed: ${authority.replace(/[.[\]]/g, '\\$&')}$`);

describe('without allowed_destinations, as in a Go config', () => {
  test('CONNECT to the instance metadata address is refused with 403, and logged at info', async () => {
    const signer = await startSigner();
    expect(await connect(signer.port, '169.254.169.254:443')).toMatch(FORBIDDEN('169.254.169.254:443'));
    expect(signer.logs).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'destination not allowed', destination: '169.254.169.254:443', reason: expect.stringContaining('link-local or cloud metadata') }),
    );
  });

  test('a plain request to the instance metadata address is refused with 403', async () => {
    const signer = await startSigner();
    const answer = await httpRequest(signer.url, { target: 'http://169.254.169.254/latest/meta-data/', headers: { host: '169.254.169.254' } });
    expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: destination not allowed: 169.254.169.254:80' });
  });

  test('a plain request to the GCP metadata name is refused by the name, which is not resolved', async () => {
    const signer = await startSigner();
    const answer = await httpRequest(signer.url, { target: 'http://Metadata.Google.Internal./computeMetadata/v1/', headers: { host: 'metadata.google.internal' } });
    expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: destination not allowed: metadata.google.internal:80' });
  });

  test.each([
    ['a link-local IPv6 address', '[fe80::1]:443', '[fe80::1]:443'],
    ['the metadata address as IPv4-mapped IPv6', '[::ffff:169.254.169.254]:443', '[::ffff:a9fe:a9fe]:443'],
    ['the AWS IPv6 metadata address', '[fd00:ec2::254]:80', '[fd00:ec2::254]:80'],
    ['the Alibaba Cloud metadata address', '100.100.100.200:443', '100.100.100.200:443'],
  ])('CONNECT to %s is refused with 403, naming it canonically', async (_name, target, authority) => {
    const signer = await startSigner();
    expect(await connect(signer.port, target)).toMatch(FORBIDDEN(authority));
  });

  test('any other destination is signed for, as the Go signer does', async () => {
    const signer = await startSigner();
    const origin = await upstream();
    expect((await proxyRequest(signer.url, `${origin.url}/x`)).status).toBe(200);
    expect(decodedBearer(origin.upstream.last.headers.authorization).payload.aud).toBe(origin.url);
    expect(await connect(signer.port, 'anything.example.test:443')).toMatch(/^HTTP\/1.1 200 Connection Established/);
  });
});

describe('with allowed_destinations', () => {
  test('a listed destination is signed for over plain HTTP', async () => {
    const listed = await upstream();
    const signer = await startSigner(`    allowed_destinations: ["${listed.authority}"]`);
    expect((await proxyRequest(signer.url, `${listed.url}/x`)).status).toBe(200);
    expect(decodedBearer(listed.upstream.last.headers.authorization).payload.aud).toBe(listed.url);
  });

  test('a listed CONNECT target is intercepted', async () => {
    const signer = await startSigner('    allowed_destinations: ["*.internal.example.test:443"]');
    expect(await connect(signer.port, 'API.internal.example.test:443')).toMatch(/^HTTP\/1.1 200 Connection Established/);
  });

  test('an unlisted destination is refused with 403 over plain HTTP, and nothing reaches it', async () => {
    const [listed, unlisted] = await Promise.all([upstream(), upstream()]);
    const signer = await startSigner(`    allowed_destinations: ["${listed.authority}"]`);
    const answer = await proxyRequest(signer.url, `${unlisted.url}/x`);
    expect(answer).toMatchObject({ status: 403, body: `jwtproxy: destination not allowed: ${unlisted.authority}` });
    expect(unlisted.upstream.received).toHaveLength(0);
    expect(signer.logs).toContainEqual(expect.objectContaining({ level: 'info', msg: 'destination not allowed', destination: unlisted.authority, reason: 'not in allowed_destinations' }));
  });

  test('an https:// absolute URI is checked on port 443 when it names none', async () => {
    const signer = await startSigner('    allowed_destinations: ["api.example.test:8443"]');
    const answer = await httpRequest(signer.url, { target: 'https://api.example.test/x', headers: { host: 'api.example.test' } });
    expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: destination not allowed: api.example.test:443' });
  });

  test('an unlisted CONNECT target is refused with 403', async () => {
    const signer = await startSigner('    allowed_destinations: ["api.example.test"]');
    expect(await connect(signer.port, 'other.example.test:443')).toMatch(FORBIDDEN('other.example.test:443'));
  });

  test('a WebSocket upgrade to an unlisted destination is refused with 403', async () => {
    const [listed, unlisted] = await Promise.all([upstream(), upstream()]);
    const signer = await startSigner(`    allowed_destinations: ["${listed.authority}"]`);
    const socket = net.connect(signer.port, '127.0.0.1');
    await once(socket, 'connect');
    const answer = await exchangeOn(socket, `GET ${unlisted.url}/ws HTTP/1.1\r\nhost: ${unlisted.authority}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`);
    socket.destroy();
    expect(answer).toMatch(FORBIDDEN(unlisted.authority));
  });

  test('the metadata address is intercepted when an entry names it', async () => {
    const signer = await startSigner('    allowed_destinations: ["169.254.169.254:443"]');
    expect(await connect(signer.port, '169.254.169.254:443')).toMatch(/^HTTP\/1.1 200 Connection Established/);
  });

  test('a wildcard for every host does not open the metadata address', async () => {
    const signer = await startSigner('    allowed_destinations: ["*"]');
    expect(await connect(signer.port, '169.254.169.254:443')).toMatch(FORBIDDEN('169.254.169.254:443'));
    expect(await connect(signer.port, 'anything.example.test:443')).toMatch(/^HTTP\/1.1 200 Connection Established/);
  });
});

describe('the warning of a signer open to the network', () => {
  const warnings = (signer: Signer) => signer.logs.filter((line) => line.level === 'warn').map((line) => line.msg);

  test('a signer listening beyond loopback without allowed_destinations warns at start', async () => {
    const signer = await startSigner('', '0.0.0.0:0');
    expect(warnings(signer)).toEqual([expect.stringMatching(/^the signer proxy listens beyond loopback without allowed_destinations: .*signer_proxy\.allowed_destinations$/)]);
  });

  test('a signer listening beyond loopback with allowed_destinations does not warn', async () => {
    const signer = await startSigner('    allowed_destinations: ["*:443"]', '0.0.0.0:0');
    expect(warnings(signer)).toEqual([]);
  });

  test.each([['127.0.0.1:0'], ['localhost:0'], ['"[::1]:0"']])('a signer listening on %s does not warn', async (listen) => {
    const signer = await startSigner('', listen);
    expect(warnings(signer)).toEqual([]);
  });

  test('a signer on a unix socket does not warn', async () => {
    const signer = await startSigner('', `unix:${path.join(tempDir(), 'signer.sock')}`);
    expect(warnings(signer)).toEqual([]);
  });
});
