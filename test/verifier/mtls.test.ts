// mTLS on verifier listeners, over real TLS on loopback with openssl-made CAs: which
// clients get through, the certificate facts policy and the upstream see, forged certificate
// headers, certificate-bound tokens (RFC 8705) and CRLs replaced on reload.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { buildVerifierProxies } from '../../src/app/buildServices';
import { parseConfig } from '../../src/app/loadConfig';
import { SINGLE_PROCESS } from '../../src/cluster/Topology';
import { silentLogger } from '../../src/observability/logger';
import { ProxyMetrics } from '../../src/observability/metrics';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { certificateFacts } from '../../src/x509/CertificateFacts';
import { tempDir } from '../support/cli';
import { presenting, TestCa, type ClientCertificate } from '../support/clientCertificates';
import { bearer, httpRequest, type Answer } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier, verifierConfigYaml } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';
import { tlsCertificate, type TlsFiles } from '../support/tlsCertificate';

const AUDIENCE = 'https://verifier.test';

let dir: string;
let server: TlsFiles;
let ca: TestCa;
let device42: ClientCertificate;
let device43: ClientCertificate;
let revoked: ClientCertificate;
let stranger: ClientCertificate;
let crlFile: string;

beforeAll(async () => {
  dir = tempDir();
  [server, ca] = await Promise.all([tlsCertificate(dir), TestCa.create(dir)]);
  const otherCa = await TestCa.create(dir, 'Other CA');
  [device42, device43, revoked, stranger] = await Promise.all([
    ca.issue({ subject: '/O=Example/OU=Devices/CN=device-42', altNames: ['DNS:device-42.example', 'URI:spiffe://example.org/device/42', 'email:ops@example.com'] }),
    ca.issue({ subject: '/O=Example/OU=Devices/CN=device-43' }),
    ca.issue({ subject: '/O=Example/OU=Devices/CN=device-lost' }),
    otherCa.issue({ subject: '/O=Example/OU=Devices/CN=device-42' }),
  ]);
  await ca.revoke(revoked);
  crlFile = await ca.writeCrl(path.join(dir, 'clients.crl'));
});

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

async function upstream(): Promise<[TestUpstream, string]> {
  const test = new TestUpstream();
  const url = await test.listen();
  running.push({ stop: () => test.close() });
  return [test, url];
}

interface VerifierOptions {
  upstream: string;
  /** Listener lines after key_file and crt_file. */
  listener?: string;
  /** Lines inside `verifier:`. */
  verifier?: string;
}

function verifierYaml(options: VerifierOptions): string {
  return `listen_addr: 127.0.0.1:0
    key_file: ${server.keyFile}
    crt_file: ${server.crtFile}
    ${options.listener ?? `client_ca_file: ${ca.crtFile}\n    crl_file: ${crlFile}`}
    verifier:
      upstream: ${options.upstream}
      audience: ${AUDIENCE}/
      key_server: ${PRESHARED_KEY_SERVER}
      ${options.verifier ?? ''}`;
}

async function verifier(options: VerifierOptions): Promise<VerifierProxy> {
  const proxy = await startVerifier(verifierYaml(options));
  running.push(proxy);
  return proxy;
}

const OPTIONAL = () => `client_ca_file: ${ca.crtFile}\n    client_auth: optional\n    crl_file: ${crlFile}`;

const CERTIFICATE_HEADERS = `claims_to_headers:
        X-Client-CN: client_certificate.subject_cn
        X-Client-Subject: client_certificate.subject
        X-Client-Issuer: client_certificate.issuer
        X-Client-Serial: client_certificate.serial
        X-Client-Thumbprint: client_certificate.x5t_s256
        X-Client-DNS: client_certificate.san_dns
        X-Client-URI: client_certificate.san_uri
        X-Client-Email: client_certificate.san_email
        X-Client-Not-After: client_certificate.not_after`;

const facts = (certificate: ClientCertificate) => certificateFacts(new crypto.X509Certificate(certificate.cert).raw);

const token = (claims: Record<string, unknown> = {}) => mintToken({ audience: AUDIENCE, claims });
const boundTo = (certificate: ClientCertificate) => token({ cnf: { 'x5t#S256': facts(certificate).x5t_s256 } });

/** A request over a new connection presenting `certificate` (none when undefined). */
async function send(proxy: VerifierProxy, certificate: ClientCertificate | undefined, headers: Record<string, string> = {}): Promise<Answer> {
  return httpRequest(`${proxy.url}/resource`, { headers, tls: presenting(server.crtFile, certificate) });
}

/** The TLS handshake (or the connection right after it) fails: no HTTP answer at all. */
async function refusedConnection(proxy: VerifierProxy, certificate: ClientCertificate | undefined): Promise<void> {
  await expect(send(proxy, certificate, bearer(await token()))).rejects.toThrow(/socket hang up|ECONNRESET|EPIPE|certificate required|alert|disconnected/);
}

describe('client_auth: require', () => {
  test('a client with a certificate from the client CA gets through, its facts in claims_to_headers', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, verifier: CERTIFICATE_HEADERS });
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
    const expected = facts(device42);
    expect(received.last.headers).toMatchObject({
      'x-client-cn': 'device-42',
      'x-client-subject': 'CN=device-42,OU=Devices,O=Example',
      'x-client-issuer': 'CN=Test Client CA,O=Example',
      'x-client-serial': expected.serial,
      'x-client-thumbprint': expected.x5t_s256,
      'x-client-dns': 'device-42.example',
      'x-client-uri': 'spiffe://example.org/device/42',
      'x-client-email': 'ops@example.com',
      'x-client-not-after': expected.not_after,
    });
  });

  test('a client without a certificate fails the handshake', async () => {
    const [, url] = await upstream();
    await refusedConnection(await verifier({ upstream: url }), undefined);
  });

  test('a certificate from another CA fails the handshake', async () => {
    const [, url] = await upstream();
    await refusedConnection(await verifier({ upstream: url }), stranger);
  });

  test('a revoked certificate fails the handshake', async () => {
    const [received, url] = await upstream();
    await refusedConnection(await verifier({ upstream: url }), revoked);
    expect(received.received).toHaveLength(0);
  });

  test('the token is still checked', async () => {
    const [, url] = await upstream();
    const answer = await send(await verifier({ upstream: url }), device42);
    expect(answer).toMatchObject({ status: 403, body: 'jwtproxy: unable to verify request: Could not parse JWT' });
  });
});

describe('client_auth: optional', () => {
  test('a client without a certificate goes on to the token check, without client_certificate', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL(), verifier: CERTIFICATE_HEADERS });
    expect((await send(proxy, undefined)).status).toBe(403);
    expect((await send(proxy, undefined, bearer(await token()))).status).toBe(200);
    expect(Object.keys(received.last.headers).filter((name) => name.startsWith('x-client-'))).toEqual([]);
  });

  test('a client with a certificate from the client CA has its facts', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL(), verifier: CERTIFICATE_HEADERS });
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
    expect(received.last.headers['x-client-cn']).toBe('device-42');
  });

  test('a certificate that does not verify ends the connection: only presenting none is optional', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL() });
    await refusedConnection(proxy, stranger);
    await refusedConnection(proxy, revoked);
    expect(received.received).toHaveLength(0);
  });
});

describe('policy over the client certificate', () => {
  const RULE = `claims_verifiers:
      - type: cel
        options: {expression: 'client_certificate.subject_cn == "device-42"', message: only device-42}`;

  test('a CEL rule on client_certificate lets its certificate through and refuses others', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, verifier: RULE });
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
    expect(await send(proxy, device43, bearer(await token()))).toMatchObject({
      status: 403,
      body: 'jwtproxy: unable to verify request: Error verifying claims: only device-42',
    });
  });

  test('without a certificate the rule fails closed', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL(), verifier: RULE });
    expect((await send(proxy, undefined, bearer(await token()))).status).toBe(403);
  });

  test('a rule can accept a request with or without a certificate', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({
      upstream: url,
      listener: OPTIONAL(),
      verifier: `claims_verifiers:
      - type: cel
        options: {expression: 'client_certificate.subject_cn == "device-42" || claims.sub == "admin"'}`,
    });
    expect((await send(proxy, undefined, bearer(await token({ sub: 'admin' })))).status).toBe(200);
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
    expect((await send(proxy, undefined, bearer(await token()))).status).toBe(403);
  });
});

describe('certificate headers to the upstream', () => {
  test('forward_client_cert: xfcc sends Envoy’s X-Forwarded-Client-Cert', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, verifier: 'forward_client_cert: xfcc' });
    await send(proxy, device42, bearer(await token()));
    expect(received.last.headers['x-forwarded-client-cert']).toBe(
      `Hash=${facts(device42).fingerprint_sha256};Subject="CN=device-42,OU=Devices,O=Example";URI=spiffe://example.org/device/42;DNS=device-42.example`,
    );
  });

  test("a client's own X-Forwarded-Client-Cert and mapped headers never reach the upstream", async () => {
    const [received, url] = await upstream();
    const forged = { 'x-forwarded-client-cert': 'Hash=00;Subject="CN=admin"', 'x-client-cn': 'admin' };
    const plain = await verifier({ upstream: url, listener: OPTIONAL(), verifier: CERTIFICATE_HEADERS });
    await send(plain, undefined, { ...bearer(await token()), ...forged });
    expect(received.last.headers['x-forwarded-client-cert']).toBeUndefined();
    expect(received.last.headers['x-client-cn']).toBeUndefined();
    const forwarding = await verifier({ upstream: url, verifier: `forward_client_cert: xfcc\n      ${CERTIFICATE_HEADERS}` });
    await send(forwarding, device43, { ...bearer(await token()), ...forged });
    expect(received.last.headers['x-forwarded-client-cert']).toMatch(/^Hash=[0-9a-f]{64};Subject="CN=device-43,OU=Devices,O=Example"$/);
    expect(received.last.headers['x-client-cn']).toBe('device-43');
  });

  test('a verifier without mTLS strips X-Forwarded-Client-Cert too', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: '' });
    await send(proxy, undefined, { ...bearer(await token()), 'x-forwarded-client-cert': `Hash=${'0'.repeat(64)}` });
    expect(received.last.headers['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('certificate-bound tokens (RFC 8705)', () => {
  test('a token bound to the certificate of the connection is accepted', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    expect((await send(proxy, device42, bearer(await boundTo(device42)))).status).toBe(200);
  });

  test('a token bound to another certificate is refused', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    expect(await send(proxy, device43, bearer(await boundTo(device42)))).toMatchObject({
      status: 403,
      body: 'jwtproxy: unable to verify request: Token is bound to another client certificate',
    });
    expect(received.received).toHaveLength(0);
  });

  test('a bound token without a client certificate is refused', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL() });
    expect((await send(proxy, undefined, bearer(await boundTo(device42)))).body).toBe('jwtproxy: unable to verify request: Token is bound to a client certificate and none was presented');
  });

  test('a cnf that is not an object, or a thumbprint that is not a string, is refused', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url });
    for (const cnf of ['bound', { 'x5t#S256': 42 }]) {
      expect((await send(proxy, device42, bearer(await token({ cnf })))).body).toBe("jwtproxy: unable to verify request: Invalid 'cnf' claim");
    }
  });

  test('a cnf without x5t#S256 leaves the token unbound', async () => {
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: OPTIONAL() });
    expect((await send(proxy, undefined, bearer(await token({ cnf: { jkt: 'some-key-thumbprint' } })))).status).toBe(200);
  });

  test('a token served from the verified-token cache is checked against each connection’s certificate', async () => {
    const [received, url] = await upstream();
    const proxy = await verifier({ upstream: url, verifier: 'single_use: false' });
    const bound = bearer(await boundTo(device42));
    expect((await send(proxy, device42, bound)).status).toBe(200);
    expect((await send(proxy, device43, bound)).body).toBe('jwtproxy: unable to verify request: Token is bound to another client certificate');
    expect((await send(proxy, device42, bound)).status).toBe(200);
    expect(received.received).toHaveLength(2);
  });
});

describe('CA and CRL files', () => {
  /** A keep-alive agent presenting `certificate`: its requests share one TLS connection. */
  function keepAlive(certificate: ClientCertificate): https.Agent {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...presenting(server.crtFile, certificate) });
    running.push({ stop: async () => agent.destroy() });
    return agent;
  }

  function viaAgent(proxy: VerifierProxy, agent: https.Agent, authorization: string): Promise<{ status: number; socket: unknown }> {
    return new Promise((resolve, reject) => {
      const req = https.get(`${proxy.url}/resource`, { agent, headers: { authorization } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, socket: req.socket }));
      });
      req.on('error', reject);
    });
  }

  test('a CRL replaced on disk revokes on reload: new connections are refused, open ones go on', async () => {
    const reloadCa = await TestCa.create(dir, 'Reload CA');
    const laptop = await reloadCa.issue({ subject: '/CN=laptop-7' });
    const reloadCrl = await reloadCa.writeCrl(path.join(reloadCa.dir, 'clients.crl'));
    const [, url] = await upstream();
    const proxy = await verifier({ upstream: url, listener: `client_ca_file: ${reloadCa.crtFile}\n    crl_file: ${reloadCrl}` });
    const agent = keepAlive(laptop);
    const first = await viaAgent(proxy, agent, `Bearer ${await token()}`);
    expect(first.status).toBe(200);

    await reloadCa.revoke(laptop);
    await reloadCa.writeCrl(reloadCrl);
    await proxy.reload();

    await refusedConnection(proxy, laptop);
    const again = await viaAgent(proxy, agent, `Bearer ${await token()}`);
    expect(again.status).toBe(200);
    expect(again.socket).toBe(first.socket);
  });

  test('a client CA file replaced on disk takes effect on reload', async () => {
    const [, url] = await upstream();
    const caFile = path.join(tempDir(), 'clients.pem');
    fs.copyFileSync(ca.crtFile, caFile);
    const proxy = await verifier({ upstream: url, listener: `client_ca_file: ${caFile}` });
    await refusedConnection(proxy, stranger);
    fs.writeFileSync(caFile, Buffer.concat([fs.readFileSync(ca.crtFile), fs.readFileSync(path.join(path.dirname(stranger.crtFile), 'ca.crt'))]));
    await proxy.reload();
    expect((await send(proxy, stranger, bearer(await token()))).status).toBe(200);
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
  });

  test('a CRL file that cannot be used on reload keeps the previous one', async () => {
    const [, url] = await upstream();
    const crl = path.join(tempDir(), 'clients.crl');
    fs.copyFileSync(crlFile, crl);
    const proxy = await verifier({ upstream: url, listener: `client_ca_file: ${ca.crtFile}\n    crl_file: ${crl}` });
    fs.writeFileSync(crl, 'not a CRL\n');
    await expect(proxy.reload()).rejects.toThrow(`crl_file ${crl} holds no PEM CRL (-----BEGIN X509 CRL-----)`);
    expect((await send(proxy, device42, bearer(await token()))).status).toBe(200);
    await refusedConnection(proxy, revoked);
  });

  test('a CRL file without the CRL of a client CA stops the start, naming the CA', async () => {
    const otherCa = path.join(path.dirname(stranger.crtFile), 'ca.crt');
    fs.writeFileSync(path.join(dir, 'both.pem'), Buffer.concat([fs.readFileSync(ca.crtFile), fs.readFileSync(otherCa)]));
    const config = parseConfig(verifierConfigYaml(verifierYaml({ upstream: 'http://127.0.0.1:1/', listener: `client_ca_file: ${path.join(dir, 'both.pem')}\n    crl_file: ${crlFile}` })));
    expect(() => buildVerifierProxies(config, { clock: Date.now, logger: silentLogger, topology: SINGLE_PROCESS, metrics: new ProxyMetrics() })).toThrow(
      `crl_file ${crlFile} has no CRL issued by the client CA "CN=Other CA,O=Example"; every CA in client_ca_file needs its current CRL there, or its clients are all refused`,
    );
  });

  test('a client CA file that holds no certificate stops the start', () => {
    const empty = path.join(dir, 'empty.pem');
    fs.writeFileSync(empty, '');
    const config = parseConfig(verifierConfigYaml(verifierYaml({ upstream: 'http://127.0.0.1:1/', listener: `client_ca_file: ${empty}` })));
    expect(() => buildVerifierProxies(config, { clock: Date.now, logger: silentLogger, topology: SINGLE_PROCESS, metrics: new ProxyMetrics() })).toThrow(
      `client_ca_file ${empty} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  });
});
