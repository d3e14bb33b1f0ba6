// Client-certificate headers from a peer that is not a trusted proxy: no well-known family reaches
// the upstream or the rules, and a trusted gateway's certificate header is one header in every spelling.
import { tempDir } from '../support/cli';
import { TestCa, type ClientCertificate } from '../support/clientCertificates';
import { bearer, httpRequest } from '../support/httpRequest';
import { mintToken } from '../support/mintToken';
import { PRESHARED_KEY_SERVER, startVerifier } from '../support/startVerifier';
import { TestUpstream } from '../support/testUpstream';
import type { VerifierProxy } from '../../src/verifier/VerifierProxy';

const AUD = 'http://verifier.test';
const running: { stop(): Promise<unknown> }[] = [];
afterEach(async () => {
  while (running.length) await running.pop()!.stop();
});
let app: TestUpstream;
let appUrl: string;
beforeAll(async () => {
  app = new TestUpstream();
  appUrl = await app.listen();
});
afterAll(() => app.close());

async function verifier(extra = '', forwardAuth = false): Promise<VerifierProxy> {
  const proxy = await startVerifier(`listen_addr: 127.0.0.1:0
    verifier:
      ${forwardAuth ? 'forward_auth: true' : `upstream: ${appUrl}`}
      audience: ${AUD}/
      key_server: ${PRESHARED_KEY_SERVER}
${extra}`);
  running.push(proxy);
  return proxy;
}

// Real gateways' client-certificate headers (documented defaults), each forged by an untrusted client.
const FORGED: Record<string, string> = {
  // Kubernetes ingress-nginx (auth-tls-pass-certificate-to-upstream)
  'ssl-client-verify': 'SUCCESS',
  'ssl-client-subject-dn': 'CN=admin',
  'ssl-client-issuer-dn': 'CN=Corp CA',
  // Traefik passTLSClientCert
  'x-forwarded-tls-client-cert': 'MIIB',
  'x-forwarded-tls-client-cert-info': 'Subject%3D%22CN%3Dadmin%22',
  // GCP Application LB mTLS custom headers (documented names), Kong tls-metadata-headers defaults
  'x-client-cert-present': 'true',
  'x-client-cert-chain-verified': 'true',
  'x-client-cert-spiffe': 'spiffe://corp/admin',
  'x-client-cert-subject-dn': 'CN=admin',
  'x-client-cert-fingerprint': 'ab',
  // Azure App Service
  'x-arr-clientcert': 'MIIB',
  // HAProxy docs / Cloud Foundry gorouter / nginx snippets
  'x-ssl-client-dn': 'CN=admin',
  'x-ssl-client-cn': 'admin',
  'x-ssl-client-subject-dn': 'CN=admin',
  'x-ssl-issuer': 'CN=Corp CA',
  'x-ssl-client-sha1': 'ab',
  'x-client-verify': 'SUCCESS',
  'x-client-dn': 'CN=admin',
  // Apache mod_ssl / Tomcat SSLValve style, underscore spellings (CGI reads HTTP_SSL_CLIENT_S_DN)
  SSL_CLIENT_S_DN: 'CN=admin',
  SSL_CLIENT_VERIFY: 'SUCCESS',
  // Cloudflare's newer client certificate forwarding
  'cf-client-cert-sha256': 'ab',
};

test('from an untrusted peer, no well-known client-certificate header reaches the upstream; from a trusted proxy they all do', async () => {
  const proxy = await verifier();
  const answer = await httpRequest(`${proxy.url}/`, { headers: { ...bearer(await mintToken({ audience: AUD })), ...FORGED } });
  expect(answer.status).toBe(200);
  const leaked = Object.keys(FORGED).filter((name) => app.last.headers[name.toLowerCase()] !== undefined);
  expect(leaked).toEqual([]);
  const trusting = await verifier('      trusted_proxies: [127.0.0.1]');
  await httpRequest(`${trusting.url}/`, { headers: { ...bearer(await mintToken({ audience: AUD })), ...FORGED } });
  expect(Object.keys(FORGED).filter((name) => app.last.headers[name.toLowerCase()] === undefined)).toEqual([]);
});

test('forward-auth: the rules do not read client-address or certificate headers relayed from an untrusted peer', async () => {
  const proxy = await verifier(
    `      claims_to_headers:
        X-Seen-Verify: request.headers["x-ssl-client-verify"]
        X-Seen-Real-Ip: request.headers["x-real-ip"]`,
    true,
  );
  const answer = await httpRequest(`${proxy.url}/`, { headers: { ...bearer(await mintToken({ audience: AUD })), 'x-ssl-client-verify': 'SUCCESS', 'x-real-ip': '10.9.9.9' } });
  expect(answer.status).toBe(200);
  expect({ verify: answer.headers['x-seen-verify'], realIp: answer.headers['x-seen-real-ip'] }).toEqual({ verify: undefined, realIp: undefined });
});

describe('trusted_client_cert_header written with underscores (SSL_CLIENT_CERT, Apache/Tomcat style)', () => {
  let real: ClientCertificate;
  let forged: ClientCertificate;
  beforeAll(async () => {
    const dir = tempDir();
    const [corp, evil] = await Promise.all([TestCa.create(dir, 'Corp CA'), TestCa.create(dir, 'Evil CA')]);
    [real, forged] = await Promise.all([corp.issue({ subject: '/O=Corp/CN=device-7' }), evil.issue({ subject: '/O=Corp/CN=admin' })]);
  });
  const TRUST = `      trusted_client_cert_header: SSL_CLIENT_CERT
      trusted_client_cert_format: pem
      trusted_gateways: [127.0.0.0/8]
      claims_to_headers:
        X-Client-CN: client_certificate.subject_cn`;

  test('the gateway sends SSL_CLIENT_CERT as configured: the certificate is read', async () => {
    const proxy = await verifier(TRUST, true);
    const answer = await httpRequest(`${proxy.url}/`, { headers: { ...bearer(await mintToken({ audience: AUD })), SSL_CLIENT_CERT: encodeURIComponent(real.cert.toString()) } });
    expect(answer.headers['x-client-cn']).toBe('device-7');
  });

  test("the gateway's SSL_CLIENT_CERT next to a client's ssl-client-cert: two copies, neither believed", async () => {
    const proxy = await verifier(TRUST, true);
    const answer = await httpRequest(`${proxy.url}/`, {
      headers: { ...bearer(await mintToken({ audience: AUD })), SSL_CLIENT_CERT: encodeURIComponent(real.cert.toString()), 'ssl-client-cert': encodeURIComponent(forged.cert.toString()) },
    });
    expect(answer.headers['x-client-cn']).toBeUndefined();
  });
});
