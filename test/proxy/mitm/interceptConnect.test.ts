import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import pino from 'pino';
import { CertificateAuthority, generateCertificateAuthority } from '../../../src/proxy/mitm/CertificateAuthority';
import { connectTargetOf, interceptConnect } from '../../../src/proxy/mitm/interceptConnect';
import { LeafCertificateForger } from '../../../src/proxy/mitm/LeafCertificateForger';
import type { ConnectTarget } from '../../../src/proxy/mitm/connectTarget';

interface Seen {
  target: ConnectTarget | undefined;
  host: string | undefined;
  url: string | undefined;
}

/** A tiny proxy: an http.Server whose 'connect' handler is interceptConnect, answering what it saw. */
class InterceptingProxy {
  readonly seen: Seen[] = [];
  readonly heads: Buffer[] = [];
  readonly logs: { msg: string; level: number; target?: string }[] = [];
  readonly server: http.Server;
  port = 0;

  constructor(forger: LeafCertificateForger, handshakeTimeoutMs?: number) {
    const logger = pino({ level: 'debug' }, { write: (line: string) => this.logs.push(JSON.parse(line)) });
    this.server = http.createServer((req, res) => {
      this.seen.push({ target: connectTargetOf(req.socket), host: req.headers.host, url: req.url });
      res.end(`hello from ${connectTargetOf(req.socket)?.origin ?? 'a plain connection'}`);
    });
    this.server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.heads.push(head);
      interceptConnect(req, socket, head, { server: this.server, forger, logger, handshakeTimeoutMs });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Resolves once a log line with this message about this target exists. */
  async logged(message: string, target: string): Promise<{ msg: string; target?: string }> {
    for (;;) {
      const line = this.logs.find((entry) => entry.msg === message && entry.target === target);
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

let caPem: string;
let ca: CertificateAuthority;
let forger: LeafCertificateForger;
let proxy: InterceptingProxy;

beforeAll(async () => {
  const generated = await generateCertificateAuthority({ commonName: 'Tunnel Test CA', days: 2 });
  caPem = generated.certPem;
  ca = CertificateAuthority.fromPem(generated);
  forger = await LeafCertificateForger.create(ca);
  proxy = await new InterceptingProxy(forger).start();
});

afterAll(() => proxy.stop());

/** Sends CONNECT with node's own client; resolves with the proxy's answer and the raw tunnel. */
function openTunnel(port: number, target: string): Promise<{ response: http.IncomingMessage; socket: net.Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: target, headers: { host: target } });
    request.on('connect', (response, socket, head) => resolve({ response, socket, head }));
    request.on('error', reject);
    request.end();
  });
}

function startTls(socket: Duplex, host: string, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const servername = net.isIP(host) ? undefined : host;
    const tlsSocket = tls.connect({ socket, host, servername, ca: caPem, ALPNProtocols: ['http/1.1'], ...options }, () => resolve(tlsSocket));
    tlsSocket.on('error', reject);
  });
}

/** A real https.request over an established TLS socket. */
function get(tlsSocket: tls.TLSSocket, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { ca: caPem, createConnection: () => tlsSocket }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

function readAll(socket: net.Socket, head: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks = [head];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

describe('interceptConnect', () => {
  it('answers 200 Connection Established to a valid CONNECT', async () => {
    const { response, socket } = await openTunnel(proxy.port, 'example.test:443');
    expect(response.statusCode).toBe(200);
    expect(response.statusMessage).toBe('Connection Established');
    socket.destroy();
  });

  it('serves a tunnelled HTTPS request with a certificate that verifies against the CA', async () => {
    const { socket } = await openTunnel(proxy.port, 'example.test:443');
    const tlsSocket = await startTls(socket, 'example.test');
    expect(tlsSocket.authorized).toBe(true);
    expect(tlsSocket.getPeerCertificate().subject.CN).toBe('example.test');
    expect(await get(tlsSocket, 'https://example.test/hello?x=1')).toEqual({ status: 200, body: 'hello from https://example.test' });
    tlsSocket.destroy();
  });

  it('tells the server which CONNECT target a tunnelled request came through', async () => {
    const { socket } = await openTunnel(proxy.port, 'Target.Example.test:8443');
    const tlsSocket = await startTls(socket, 'target.example.test');
    proxy.seen.length = 0;
    await get(tlsSocket, 'https://target.example.test:8443/path');
    expect(proxy.seen).toEqual([
      {
        target: { hostname: 'target.example.test', port: 8443, authority: 'target.example.test:8443', origin: 'https://target.example.test:8443' },
        host: 'target.example.test:8443',
        url: '/path',
      },
    ]);
    tlsSocket.destroy();
  });

  it('serves several requests over one tunnel (keep-alive)', async () => {
    const { socket } = await openTunnel(proxy.port, 'keepalive.test:443');
    const tlsSocket = await startTls(socket, 'keepalive.test');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: () => tls.TLSSocket }).createConnection = () => tlsSocket;
    const fetchOnce = () => new Promise((resolve, reject) => https.get('https://keepalive.test/', { agent, ca: caPem }, (response) => response.resume().on('end', resolve)).on('error', reject));
    proxy.seen.length = 0;
    await fetchOnce();
    await fetchOnce();
    expect(proxy.seen.map((seen) => seen.target?.authority)).toEqual(['keepalive.test:443', 'keepalive.test:443']);
    agent.destroy();
  });

  it('presents an IP address certificate to a client that connected to an IPv4 literal', async () => {
    const { socket } = await openTunnel(proxy.port, '127.0.0.1:8443');
    const tlsSocket = await startTls(socket, '127.0.0.1');
    expect(tlsSocket.authorized).toBe(true);
    expect(tlsSocket.getPeerCertificate().subjectaltname).toBe('IP Address:127.0.0.1');
    expect((await get(tlsSocket, 'https://127.0.0.1:8443/')).body).toBe('hello from https://127.0.0.1:8443');
    tlsSocket.destroy();
  });

  it('presents an IP address certificate to a client that connected to an IPv6 literal', async () => {
    const { socket } = await openTunnel(proxy.port, '[::1]:443');
    const tlsSocket = await startTls(socket, '::1');
    expect(tlsSocket.authorized).toBe(true);
    expect((await get(tlsSocket, 'https://[::1]/')).body).toBe('hello from https://[::1]');
    tlsSocket.destroy();
  });

  it('negotiates http/1.1 with a client that also offers h2', async () => {
    const { socket } = await openTunnel(proxy.port, 'alpn.test:443');
    const tlsSocket = await startTls(socket, 'alpn.test', { ALPNProtocols: ['h2', 'http/1.1'] });
    expect(tlsSocket.alpnProtocol).toBe('http/1.1');
    tlsSocket.destroy();
  });

  it('answers 400 to an invalid target, without forging anything', async () => {
    const before = forger.cachedContexts;
    const { response, socket, head } = await openTunnel(proxy.port, '../../pwned:443');
    expect(response.statusCode).toBe(400);
    expect(await readAll(socket, head)).toBe(
      'jwtproxy: invalid CONNECT target "../../pwned:443": the host must be a DNS name (letters, digits, hyphens; labels of 1 to 63 characters) or an IP address\n',
    );
    expect(forger.cachedContexts).toBe(before);
  });

  it('answers 400 to a target without a port', async () => {
    const { response, socket } = await openTunnel(proxy.port, 'example.test');
    expect(response.statusCode).toBe(400);
    socket.destroy();
  });

  it('aborts a handshake whose SNI names a host other than the CONNECT target', async () => {
    const { socket } = await openTunnel(proxy.port, 'connected.test:443');
    await expect(startTls(socket, 'other.test')).rejects.toThrow();
    await proxy.logged('MITM tunnel: SNI differs from the CONNECT target; handshake refused', 'connected.test:443');
  });

  it('survives a client that hangs up in the middle of the handshake', async () => {
    const { socket } = await openTunnel(proxy.port, 'hangup.test:443');
    // The first bytes of a TLS ClientHello record, then nothing.
    socket.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await new Promise((resolve) => socket.once('close', resolve));
    await proxy.logged('MITM tunnel: client closed the tunnel during the TLS handshake', 'hangup.test:443');
    const next = await openTunnel(proxy.port, 'hangup.test:443');
    const tlsSocket = await startTls(next.socket, 'hangup.test');
    expect((await get(tlsSocket, 'https://hangup.test/')).status).toBe(200);
    tlsSocket.destroy();
  });

  it('accepts a ClientHello sent in the same packet as the CONNECT request', async () => {
    const raw = net.connect(proxy.port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    const connectRequest = Buffer.from('CONNECT early.test:443 HTTP/1.1\r\nHost: early.test:443\r\n\r\n');
    let pending: Buffer | undefined = connectRequest;
    let response = Buffer.alloc(0);
    let responseDone = false;
    // A tunnel that sends the CONNECT request and the ClientHello in one write and strips the
    // proxy's "200 Connection Established" before TLS sees the bytes.
    const tunnel = new Duplex({
      write(chunk: Buffer, _encoding, callback) {
        raw.write(pending ? Buffer.concat([pending, chunk]) : chunk, callback);
        pending = undefined;
      },
      read() {},
    });
    raw.on('data', (chunk: Buffer) => {
      if (responseDone) return void tunnel.push(chunk);
      response = Buffer.concat([response, chunk]);
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) return;
      responseDone = true;
      if (end + 4 < response.length) tunnel.push(response.subarray(end + 4));
    });
    raw.on('end', () => tunnel.push(null));
    const heads = proxy.heads.length;
    const tlsSocket = await startTls(tunnel, 'early.test');
    expect(proxy.heads[heads].length).toBeGreaterThan(0);
    expect((await get(tlsSocket, 'https://early.test/')).body).toBe('hello from https://early.test');
    tlsSocket.destroy();
    raw.destroy();
  });

  it('leaves connectTargetOf undefined for a request that did not come through a tunnel', async () => {
    proxy.seen.length = 0;
    await new Promise((resolve) => http.get({ host: '127.0.0.1', port: proxy.port, path: '/' }, (response) => response.resume().on('end', resolve)));
    expect(proxy.seen[0].target).toBeUndefined();
  });
});

const curlInstalled = (() => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('interceptConnect with curl as the client', () => {
  (curlInstalled ? it : it.skip)('lets curl (OpenSSL defaults) fetch an HTTPS URL through the proxy, trusting only the MITM CA', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'mitm-curl-'));
    try {
      const caFile = path.join(folder, 'ca.pem');
      await writeFile(caFile, caPem);
      const args = ['--silent', '--show-error', '--proxy', `http://127.0.0.1:${proxy.port}`, '--cacert', caFile, 'https://curl.example.test/'];
      const output = await new Promise<string>((resolve, reject) => execFile('curl', args, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}: ${stderr}`)) : resolve(stdout))));
      expect(output).toBe('hello from https://curl.example.test');
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('interceptConnect with a short handshake timeout', () => {
  it('drops a client that never starts TLS', async () => {
    const slow = await new InterceptingProxy(forger, 50).start();
    try {
      const { socket, head } = await openTunnel(slow.port, 'silent.test:443');
      // The proxy closes the tunnel once the handshake timeout has passed, without sending a byte.
      expect(await readAll(socket, head)).toBe('');
      // A client that goes silent is routine: logged at debug, not as a warning.
      expect(await slow.logged('MITM tunnel: TLS handshake timed out', 'silent.test:443')).toMatchObject({ level: 20 });
    } finally {
      await slow.stop();
    }
  });
});

describe('interceptConnect with an expired CA', () => {
  it('answers 502 when no certificate can be forged', async () => {
    const lateForger = await LeafCertificateForger.create(ca, { clock: () => Date.now() + 3 * 86_400_000 });
    const late = await new InterceptingProxy(lateForger).start();
    try {
      const { response, socket, head } = await openTunnel(late.port, 'example.test:443');
      expect(response.statusCode).toBe(502);
      expect(await readAll(socket, head)).toMatch(/^jwtproxy: unable to intercept the connection: the MITM CA expired on /);
      await late.logged('MITM tunnel: cannot forge a certificate', 'example.test:443');
    } finally {
      await late.stop();
    }
  });
});
