// The MITM interceptor as a component: it loads its CA at start and on reload, intercepts the tunnels
// its proxy admits, and names the CONNECT target of the connections it hands over.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { silentLogger } from '../../../src/observability/logger';
import { generateCertificateAuthority } from '../../../src/proxy/mitm/CertificateAuthority';
import { parseConnectTarget } from '../../../src/proxy/mitm/connectTarget';
import { MitmInterceptor } from '../../../src/proxy/mitm/MitmInterceptor';
import { tempDir } from '../../support/cli';
import { exchangeOn } from '../../support/exchangeOn';
import { httpRequest } from '../../support/httpRequest';

interface CaFiles {
  keyFile: string;
  certFile: string;
  certPem: string;
}

async function writeCa(dir: string, commonName: string): Promise<CaFiles> {
  const ca = await generateCertificateAuthority({ commonName, days: 1 });
  const files = { keyFile: path.join(dir, 'ca.key'), certFile: path.join(dir, 'ca.crt'), certPem: ca.certPem };
  fs.writeFileSync(files.keyFile, ca.keyPem, { mode: 0o600 });
  fs.writeFileSync(files.certFile, ca.certPem);
  return files;
}

/** An http.Server that admits every CONNECT to `interceptor` and answers with the target it names. */
async function serve(interceptor: MitmInterceptor): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => res.end(interceptor.targetOf(req.socket)?.authority ?? 'no tunnel'));
  server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => interceptor.intercept(parseConnectTarget(req.url!), socket, head, server));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** CONNECTs to `target` and starts TLS in the tunnel, trusting `caPem` only. */
function tunnel(port: number, target: string, caPem: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const connect = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: target, agent: false });
    connect.on('error', reject);
    connect.once('connect', (_response, socket) => {
      const secure = tls.connect({ socket, servername: target.split(':')[0], ca: caPem }, () => resolve(secure));
      secure.on('error', reject);
    });
    connect.end();
  });
}

let dir: string;
let ca: CaFiles;
const stops: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = tempDir();
  ca = await writeCa(dir, 'Interceptor test CA');
});

afterEach(async () => {
  while (stops.length) await stops.pop()!();
});

async function startedInterceptor(): Promise<{ interceptor: MitmInterceptor; port: number }> {
  const interceptor = new MitmInterceptor({ keyFile: ca.keyFile, certFile: ca.certFile }, { clock: Date.now, logger: silentLogger });
  await interceptor.start();
  stops.push(() => interceptor.stop());
  const server = await serve(interceptor);
  stops.push(() => server.close());
  return { interceptor, port: server.port };
}

describe('MitmInterceptor', () => {
  test('intercepts a tunnel with a certificate issued by the CA it loaded at start', async () => {
    const { port } = await startedInterceptor();
    const secure = await tunnel(port, 'api.example.test:443', ca.certPem);
    expect(secure.authorized).toBe(true);
    expect(secure.getPeerCertificate().issuer.CN).toBe('Interceptor test CA');
    secure.destroy();
  });

  test('names the CONNECT target of a connection it handed over', async () => {
    const { port } = await startedInterceptor();
    const secure = await tunnel(port, 'api.example.test:8443', ca.certPem);
    expect(await exchangeOn(secure, 'GET / HTTP/1.1\r\nhost: api.example.test:8443\r\n\r\n')).toMatch(/\r\n\r\napi\.example\.test:8443$/);
    secure.destroy();
  });

  test('names no target for a connection that did not come through a tunnel', async () => {
    const { port } = await startedInterceptor();
    expect((await httpRequest(`http://127.0.0.1:${port}/`)).body).toBe('no tunnel');
  });

  test('reload re-reads the CA files: new tunnels get certificates from the new CA', async () => {
    const { interceptor, port } = await startedInterceptor();
    const renewed = await writeCa(dir, 'Renewed interceptor CA');
    await interceptor.reload();
    const secure = await tunnel(port, 'renewed.example.test:443', renewed.certPem);
    expect(secure.getPeerCertificate().issuer.CN).toBe('Renewed interceptor CA');
    secure.destroy();
  });

  test('a reload that cannot read the CA fails and the CA in use stays', async () => {
    const { interceptor, port } = await startedInterceptor();
    fs.writeFileSync(ca.certFile, 'not a certificate');
    await expect(interceptor.reload()).rejects.toThrow(/ca_crt_file/);
    const secure = await tunnel(port, 'kept.example.test:443', ca.certPem);
    expect(secure.getPeerCertificate().issuer.CN).toBe('Interceptor test CA');
    secure.destroy();
  });

  test('start fails naming the CA file it cannot read', async () => {
    const interceptor = new MitmInterceptor({ keyFile: path.join(dir, 'missing.key'), certFile: ca.certFile }, { clock: Date.now, logger: silentLogger });
    await expect(interceptor.start()).rejects.toThrow(/ca_key_file .*missing\.key: cannot read it/);
  });
});
