// A verifier behind a gateway that terminated mTLS: the gateway's certificate header is
// the client's certificate only from a peer in trusted_gateways; from any other peer, and
// without trusted_client_cert_header, it is ignored. Real gateways' header formats: Envoy's
// XFCC (Hash and Subject, or Cert) and nginx's URL-encoded PEM.
import * as crypto from 'node:crypto';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';
import { certificateFacts } from '../../src/x509/CertificateFacts';
import { forwardedClientCert } from '../../src/verifier/forwardedClientCert';
import { tempDir } from '../support/cli';
import { presenting, TestCa, type ClientCertificate } from '../support/clientCertificates';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';
import { tlsCertificate, type TlsFiles } from '../support/tlsCertificate';

const AUDIENCE = 'https://verifier.test';
const REFUSED = 'jwtproxy: unable to verify request: ';

let server: TlsFiles;
let ca: TestCa;
let device42: ClientCertificate;
let gatewayCertificate: ClientCertificate;

beforeAll(async () => {
  const dir = tempDir();
  [server, ca] = await Promise.all([tlsCertificate(dir), TestCa.create(dir)]);
  [device42, gatewayCertificate] = await Promise.all([
    ca.issue({ subject: '/O=Example/CN=device-42', altNames: ['URI:spiffe://example.org/device/42'] }),
    ca.issue({ subject: '/O=Example/CN=gateway' }),
  ]);
});

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});

const facts = (certificate: ClientCertificate) => certificateFacts(new crypto.X509Certificate(certificate.cert).raw);
/** What Envoy sends with forward_client_cert_details: SANITIZE_SET and Subject, URI set. */
const envoyXfcc = (certificate: ClientCertificate) => forwardedClientCert(facts(certificate));
const boundTo = (certificate: ClientCertificate) => mintToken({ audience: AUDIENCE, claims: { cnf: { 'x5t#S256': facts(certificate).x5t_s256 } } });

const IDENTITY = `claims_to_headers:
        X-Client-CN: client_certificate.subject_cn
        X-Client-Issuer: client_certificate.issuer`;

/** A forward-auth verifier on plain HTTP; `trust` is YAML for its verifier mapping. */
async function forwardAuth(trust: string): Promise<VerifierProxy> {
  const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      forward_auth: true
      audience: ${AUDIENCE}/
      key_server: ${PRESHARED_KEY_SERVER}
      ${IDENTITY}
      ${trust}`);
  running.push(proxy);
  return proxy;
}

const TRUST_LOOPBACK = 'trusted_client_cert_header: x-forwarded-client-cert\n      trusted_gateways: [127.0.0.1/32]';

describe('forward-auth behind a gateway', () => {
  test("a trusted gateway's X-Forwarded-Client-Cert is the client's certificate", async () => {
    const proxy = await forwardAuth(TRUST_LOOPBACK);
    const answer = await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), 'x-forwarded-client-cert': envoyXfcc(device42) } });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-client-cn']).toBe('device-42');
    // Envoy's header carries no issuer.
    expect(answer.headers['x-client-issuer']).toBeUndefined();
  });

  test('a bound token with the header of another certificate is refused', async () => {
    const proxy = await forwardAuth(TRUST_LOOPBACK);
    const answer = await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), 'x-forwarded-client-cert': envoyXfcc(gatewayCertificate) } });
    expect(answer).toMatchObject({ status: 403, body: `${REFUSED}Token is bound to another client certificate` });
  });

  test('the header from a peer outside trusted_gateways is ignored', async () => {
    const proxy = await forwardAuth('trusted_client_cert_header: x-forwarded-client-cert\n      trusted_gateways: [10.0.0.0/8, "::1"]');
    const forged = { 'x-forwarded-client-cert': envoyXfcc(device42) };
    expect(await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), ...forged } })).toMatchObject({
      status: 403,
      body: `${REFUSED}Token is bound to a client certificate and none was presented`,
    });
    const unbound = await httpRequest(proxy.url, { headers: { ...bearer(await mintToken({ audience: AUDIENCE })), ...forged } });
    expect(unbound.status).toBe(200);
    expect(unbound.headers['x-client-cn']).toBeUndefined();
  });

  test('without trusted_client_cert_header no certificate header is believed', async () => {
    const proxy = await forwardAuth('');
    const answer = await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), 'x-forwarded-client-cert': envoyXfcc(device42) } });
    expect(answer.body).toBe(`${REFUSED}Token is bound to a client certificate and none was presented`);
  });

  test("nginx's URL-encoded PEM in a trusted header gives every fact (trusted_client_cert_format: pem)", async () => {
    const proxy = await forwardAuth('trusted_client_cert_header: x-ssl-client-cert\n      trusted_client_cert_format: pem\n      trusted_gateways: 127.0.0.0/8');
    const answer = await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), 'x-ssl-client-cert': encodeURIComponent(device42.cert.toString()) } });
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({ 'x-client-cn': 'device-42', 'x-client-issuer': 'CN=Test Client CA,O=Example' });
  });

  test('an unreadable header from a trusted gateway means no certificate', async () => {
    const proxy = await forwardAuth(TRUST_LOOPBACK);
    const answer = await httpRequest(proxy.url, { headers: { ...bearer(await boundTo(device42)), 'x-forwarded-client-cert': 'Hash=nothex;Subject="CN=device-42"' } });
    expect(answer.body).toBe(`${REFUSED}Token is bound to a client certificate and none was presented`);
  });
});

describe('a gateway that authenticates itself with mTLS', () => {
  async function mtlsForwardAuth(gateways: string): Promise<VerifierProxy> {
    const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    key_file: ${server.keyFile}
    crt_file: ${server.crtFile}
    client_ca_file: ${ca.crtFile}
    verifier:
      forward_auth: true
      audience: ${AUDIENCE}/
      key_server: ${PRESHARED_KEY_SERVER}
      ${IDENTITY}
      trusted_client_cert_header: x-forwarded-client-cert
      trusted_gateways: ${gateways}`);
    running.push(proxy);
    return proxy;
  }

  const ask = async (proxy: VerifierProxy, headers: Record<string, string> = {}) =>
    httpRequest(proxy.url, { headers: { ...bearer(await mintToken({ audience: AUDIENCE })), ...headers }, tls: presenting(server.crtFile, gatewayCertificate) });

  test("from a trusted gateway only its header counts, never the gateway's own certificate", async () => {
    const proxy = await mtlsForwardAuth('[127.0.0.1/32]');
    expect((await ask(proxy, { 'x-forwarded-client-cert': envoyXfcc(device42) })).headers['x-client-cn']).toBe('device-42');
    const withoutHeader = await ask(proxy);
    expect(withoutHeader.status).toBe(200);
    expect(withoutHeader.headers['x-client-cn']).toBeUndefined();
  });

  test('a peer outside trusted_gateways is described by its own connection certificate', async () => {
    const proxy = await mtlsForwardAuth('["::1/128"]');
    expect((await ask(proxy, { 'x-forwarded-client-cert': envoyXfcc(device42) })).headers['x-client-cn']).toBe('gateway');
  });
});

test('a forwarding verifier sends the trusted facts upstream as XFCC, never the gateway header itself', async () => {
  const upstream = new TestUpstream();
  const url = await upstream.listen();
  running.push({ stop: () => upstream.close() });
  const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      upstream: ${url}
      audience: ${AUDIENCE}/
      key_server: ${PRESHARED_KEY_SERVER}
      forward_client_cert: xfcc
      trusted_client_cert_header: x-ssl-client-cert
      trusted_client_cert_format: pem
      trusted_gateways: [127.0.0.1]`);
  running.push(proxy);
  const answer = await httpRequest(proxy.url, {
    headers: { ...bearer(await boundTo(device42)), 'x-ssl-client-cert': encodeURIComponent(device42.cert.toString()), 'x-forwarded-client-cert': 'Hash=forged' },
  });
  expect(answer.status).toBe(200);
  expect(upstream.last.headers['x-forwarded-client-cert']).toBe(envoyXfcc(device42));
  expect(upstream.last.headers['x-ssl-client-cert']).toBeUndefined();
});
