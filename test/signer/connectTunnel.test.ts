// HTTPS through the signer: CONNECT tunnels intercepted with a MITM CA, signed, and sent on to a TLS
// verifier the signer trusts through trusted_certificates; and the CONNECT requests it must refuse.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/app/loadConfig';
import { createPrivateKeySource } from '../../src/keys/privateKeySourceTypes';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { generateCertificateAuthority } from '../../src/proxy/mitm/CertificateAuthority';
import { MitmInterceptor } from '../../src/proxy/mitm/MitmInterceptor';
import { SignerProxy } from '../../src/signer/SignerProxy';
import { tempDir } from '../support/cli';
import { decodedBearer } from '../support/decodedBearer';
import { exchangeOn } from '../support/exchangeOn';
import { FrontDoor } from '../support/frontDoor';
import type { Answer } from '../support/httpRequest';
import { interopFile } from '../support/interop';
import { proxyRequest } from '../support/proxyRequest';
import { startProxies } from '../support/startProxies';
import { PRESHARED_KEY_SERVER } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';
import { tlsCertificate, type TlsFiles } from '../support/tlsCertificate';

const PRESHARED_PRIVATE_KEY = `{type: preshared, options: {key_id: mykey, private_key_path: ${interopFile('mykey.key')}}}`;

let dir: string;
let caFile: string;
let caKeyFile: string;
let verifierTls: TlsFiles;

beforeAll(async () => {
  dir = tempDir();
  const [ca, files] = await Promise.all([generateCertificateAuthority({ commonName: 'Signer test MITM CA', days: 1 }), tlsCertificate(dir)]);
  caFile = path.join(dir, 'ca.crt');
  caKeyFile = path.join(dir, 'ca.key');
  fs.writeFileSync(caFile, ca.certPem);
  fs.writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
  verifierTls = files;
});

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

interface TlsChain {
  signerPort: number;
  /** The verifier's front door: its audience names it, clients CONNECT to it. */
  verifierPort: number;
  upstream: TestUpstream;
}

/** Signer (with the MITM CA unless `mitm` is false) → TLS verifier → upstream. */
async function tlsChain(options: { mitm?: boolean; trusted?: boolean; logger?: ReturnType<typeof createLogger> } = {}): Promise<TlsChain> {
  const upstream = new TestUpstream();
  const upstreamUrl = await upstream.listen();
  running.push({ stop: () => upstream.close() });
  const verifierDoor = await FrontDoor.open();
  running.push({ stop: () => verifierDoor.close() });
  const ca = options.mitm === false ? '' : `    ca_key_file: ${caKeyFile}\n    ca_crt_file: ${caFile}\n`;
  const proxies = await startProxies(
    `jwtproxy:
  signer_proxy:
    listen_addr: 127.0.0.1:0
${ca}    trusted_certificates: [${options.trusted === false ? '' : verifierTls.crtFile}]
    signer:
      private_key: ${PRESHARED_PRIVATE_KEY}
  verifier_proxies:
  - listen_addr: 127.0.0.1:0
    key_file: ${verifierTls.keyFile}
    crt_file: ${verifierTls.crtFile}
    verifier:
      upstream: ${upstreamUrl}
      audience: ${verifierDoor.origin('https')}/
      key_server: ${PRESHARED_KEY_SERVER}
`,
    { logger: options.logger },
  );
  running.push(proxies);
  verifierDoor.openTo(proxies.verifiers[0].url);
  return { signerPort: Number(new URL(proxies.signer!.url).port), verifierPort: verifierDoor.port, upstream };
}

/** Opens a CONNECT tunnel through the signer and a TLS session in it that trusts only the MITM CA. */
function openTunnel(signerPort: number, targetPort: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const connect = http.request({ host: '127.0.0.1', port: signerPort, method: 'CONNECT', path: `127.0.0.1:${targetPort}`, agent: false });
    connect.on('error', reject);
    connect.once('connect', (response, tunnel) => {
      if (response.statusCode !== 200) {
        tunnel.destroy();
        return reject(new Error(`CONNECT answered ${response.statusCode}`));
      }
      const secure = tls.connect({ socket: tunnel, host: '127.0.0.1', ca: fs.readFileSync(caFile) }, () => resolve(secure));
      secure.on('error', reject);
    });
    connect.end();
  });
}

/** CONNECTs through the signer, then sends one HTTPS request in the tunnel. */
async function throughTunnel(signerPort: number, targetPort: number, request: { path: string; headers?: http.OutgoingHttpHeaders }): Promise<Answer> {
  const tunnel = await openTunnel(signerPort, targetPort);
  return new Promise((resolve, reject) => {
    const inner = https.request({ host: '127.0.0.1', port: targetPort, path: request.path, headers: request.headers, createConnection: () => tunnel }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        tunnel.destroy();
        resolve({ status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    inner.on('error', reject);
    inner.end();
  });
}

/** Sends `text` on a new connection and reads one answer. */
async function rawExchange(port: number, text: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  try {
    return await exchangeOn(socket, text);
  } finally {
    socket.destroy();
  }
}

describe('HTTPS through a CONNECT tunnel', () => {
  test('a request in the tunnel is signed and passes the TLS verifier to the upstream', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain();
    const answer = await throughTunnel(signerPort, verifierPort, { path: '/secure/x?y=1' });
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
    expect(upstream.last.url).toBe('/secure/x?y=1');
    expect(upstream.last.headers['x-forwarded-proto']).toBe('https');
  });

  test('aud is https:// and the CONNECT target', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain();
    await throughTunnel(signerPort, verifierPort, { path: '/x' });
    const { header, payload } = decodedBearer(upstream.last.headers.authorization);
    expect(header).toEqual({ alg: 'RS256', kid: 'mykey', typ: 'JWT' });
    expect(payload.aud).toBe(`https://127.0.0.1:${verifierPort}`);
  });

  test('curl through the signer as its HTTPS proxy, trusting the MITM CA, gets 200', async () => {
    const { signerPort, verifierPort } = await tlsChain();
    // Asynchronous: the signer answering curl runs in this process.
    const { stdout } = await promisify(execFile)(
      'curl',
      ['--silent', '--show-error', '--proxy', `http://127.0.0.1:${signerPort}`, '--noproxy', '', '--cacert', caFile, '--write-out', '\n%{http_code}', `https://127.0.0.1:${verifierPort}/x`],
      { env: { PATH: process.env.PATH } },
    );
    expect(stdout).toBe('ok\n200');
  });

  test('each request of a kept-alive tunnel gets a token of its own', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain();
    const tunnel = await openTunnel(signerPort, verifierPort);
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${verifierPort}\r\n\r\n`;
    expect(await exchangeOn(tunnel, request('/first'))).toMatch(/^HTTP\/1.1 200 /);
    expect(await exchangeOn(tunnel, request('/second'))).toMatch(/^HTTP\/1.1 200 /);
    tunnel.destroy();
    expect(upstream.received.map((received) => received.url)).toEqual(['/first', '/second']);
    const jtis = upstream.received.map((received) => decodedBearer(received.headers.authorization).payload.jti);
    expect(jtis[0]).not.toBe(jtis[1]);
  });

  test('an absolute https:// URI sent as plain HTTP is forwarded over TLS, with aud https://', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain();
    const answer = await proxyRequest(`http://127.0.0.1:${signerPort}`, `https://127.0.0.1:${verifierPort}/plain-to-tls`);
    expect(answer).toMatchObject({ status: 200, body: 'ok' });
    expect(decodedBearer(upstream.last.headers.authorization).payload.aud).toBe(`https://127.0.0.1:${verifierPort}`);
  });

  test('a verifier certificate outside trusted_certificates is refused with 502', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain({ trusted: false });
    const answer = await throughTunnel(signerPort, verifierPort, { path: '/x' });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatch(/^jwtproxy: upstream unavailable: /);
    expect(upstream.received).toHaveLength(0);
  });
});

describe('WebSocket inside a CONNECT tunnel', () => {
  test('the upgrade is signed, verified and spliced to the upstream', async () => {
    const chain = await tlsChain();
    let authorization: string | undefined;
    chain.upstream.httpServer.on('upgrade', (req: http.IncomingMessage, socket) => {
      authorization = req.headers.authorization;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      socket.on('data', (data: Buffer) => socket.write(`echo:${data.toString()}`));
    });
    const tunnel = await openTunnel(chain.signerPort, chain.verifierPort);
    const received = await new Promise<string>((resolve) => {
      let text = '';
      tunnel.on('data', (data: Buffer) => {
        text += data.toString();
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n') && !text.includes('echo:')) tunnel.write('ping');
        if (text.includes('echo:ping') || !text.startsWith('HTTP/1.1 101')) tunnel.destroy();
      });
      tunnel.on('close', () => resolve(text));
      tunnel.write(`GET /ws HTTP/1.1\r\nhost: 127.0.0.1:${chain.verifierPort}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n`);
    });
    expect(received).toMatch(/^HTTP\/1.1 101/);
    expect(received).toContain('echo:ping');
    const token = decodedBearer(authorization as string);
    expect(token.payload.aud).toBe(`https://127.0.0.1:${chain.verifierPort}`);
  });
});

describe('CONNECT hardening', () => {
  test('a target with a path-traversal host is refused with 400', async () => {
    const { signerPort } = await tlsChain();
    const answer = await rawExchange(signerPort, 'CONNECT ../../x:443 HTTP/1.1\r\nhost: ../../x:443\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400 [\s\S]*\r\n\r\njwtproxy: invalid CONNECT target/);
  });

  test.each([
    ['port 0', '127.0.0.1:0'],
    ['port 99999', '127.0.0.1:99999'],
    ['no port', '127.0.0.1'],
  ])('a target with %s is refused with 400', async (_name, target) => {
    const { signerPort } = await tlsChain();
    const answer = await rawExchange(signerPort, `CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400 [\s\S]*\r\n\r\njwtproxy: invalid CONNECT target/);
  });

  test('a request in the tunnel whose Host is not the CONNECT target is refused with 421', async () => {
    const { signerPort, verifierPort, upstream } = await tlsChain();
    const answer = await throughTunnel(signerPort, verifierPort, { path: '/x', headers: { host: 'elsewhere.example' } });
    expect(answer.status).toBe(421);
    expect(answer.body).toContain(`127.0.0.1:${verifierPort}`);
    expect(upstream.received).toHaveLength(0);
  });

  test('a signer without a CA answers CONNECT with 405 and warns at start', async () => {
    const lines: string[] = [];
    const logger = createLogger('warn', { write: (line: string) => lines.push(line) });
    const { signerPort, verifierPort } = await tlsChain({ mitm: false, logger });
    const warnings = lines.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((line) => line.level === 'warn');
    expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringContaining('no MITM CA configured') })]);
    const answer = await rawExchange(signerPort, `CONNECT 127.0.0.1:${verifierPort} HTTP/1.1\r\nhost: 127.0.0.1:${verifierPort}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 405 /);
  });
});

describe('the interceptor as a part of the signer', () => {
  test('the signer intercepts CONNECT with the interceptor it is given, though its own config names no CA', async () => {
    const { signerProxy } = parseConfig(`jwtproxy:\n  signer_proxy:\n    listen_addr: 127.0.0.1:0\n    signer:\n      private_key: ${PRESHARED_PRIVATE_KEY}\n`);
    const deps = { clock: Date.now, logger: silentLogger };
    const interceptor = new MitmInterceptor({ keyFile: caKeyFile, certFile: caFile }, deps);
    const signer = new SignerProxy(signerProxy, { ...deps, keys: createPrivateKeySource(signerProxy.signer!, deps), interceptor });
    await signer.start();
    running.push(signer);
    const tunnel = await openTunnel(Number(new URL(signer.url).port), 443);
    expect(tunnel.authorized).toBe(true);
    tunnel.destroy();
  });
});
