// Envoy's X-Forwarded-Client-Cert, as written for the upstream and read from a trusted gateway.
import * as crypto from 'node:crypto';
import { tempDir } from '../support/cli';
import { TestCa } from '../support/clientCertificates';
import { certificateFacts, type CertificateFacts } from '../../src/x509/CertificateFacts';
import { certificateFromEscaped, factsFromForwardedClientCert, forwardedClientCert } from '../../src/verifier/forwardedClientCert';

const HASH = '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688';

const facts = (overrides: Partial<CertificateFacts> = {}): CertificateFacts => ({
  subject: 'CN=Test Client,OU=Lyft,L=San Francisco,ST=CA,C=US',
  subject_cn: 'Test Client',
  fingerprint_sha256: HASH,
  x5t_s256: Buffer.from(HASH, 'hex').toString('base64url'),
  san_dns: [],
  san_uri: [],
  san_email: [],
  ...overrides,
});

describe('writing', () => {
  test('Hash, the always-quoted Subject, then each URI and DNS SAN as a pair of its own', () => {
    expect(forwardedClientCert(facts({ san_uri: ['http://testclient.lyft.com'], san_dns: ['lyft.com', 'www.lyft.com'] }))).toBe(
      `Hash=${HASH};Subject="CN=Test Client,OU=Lyft,L=San Francisco,ST=CA,C=US";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`,
    );
  });

  test('a value holding , ; = or " is double-quoted, its quotes written \\"', () => {
    const header = forwardedClientCert(facts({ subject: 'CN=say \\"hi\\"', san_uri: ['https://a.example/?x=1;y=2'] }));
    expect(header).toBe(`Hash=${HASH};Subject="CN=say \\\\"hi\\\\"";URI="https://a.example/?x=1;y=2"`);
  });
});

describe('reading', () => {
  test('reads what it writes', () => {
    const written = facts({ subject: 'CN=a\\, b \\"q\\",O=x', san_uri: ['spiffe://example.org/a', 'https://a.example/?x=1;y=2'], san_dns: ['a.example'] });
    const read = factsFromForwardedClientCert(forwardedClientCert(written));
    expect(read).toEqual({ ...written, subject_cn: 'a, b "q"' });
  });

  test("Envoy's documented example, with By, and the element of the nearest proxy (the last)", () => {
    const header = `By=http://frontend.lyft.com;Hash=${'0'.repeat(64)};URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=${HASH};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://frontend.lyft.com;DNS=lyft.com`;
    expect(factsFromForwardedClientCert(header)).toMatchObject({
      fingerprint_sha256: HASH,
      subject_cn: 'Test Client',
      san_uri: ['http://frontend.lyft.com'],
      san_dns: ['lyft.com'],
    });
  });

  test('keys are case-insensitive', () => {
    expect(factsFromForwardedClientCert(`hash=${HASH.toUpperCase()};SUBJECT="CN=x"`)).toMatchObject({ fingerprint_sha256: HASH, subject: 'CN=x' });
  });

  test('without Hash or Cert, or with a broken Hash or unmatched quotes, there is no certificate', () => {
    expect(factsFromForwardedClientCert('Subject="CN=x";URI=spiffe://a')).toBeUndefined();
    expect(factsFromForwardedClientCert('Hash=abc;Subject="CN=x"')).toBeUndefined();
    expect(factsFromForwardedClientCert(`Hash=${HASH};Subject="CN=x`)).toBeUndefined();
    expect(factsFromForwardedClientCert('')).toBeUndefined();
  });

  describe('with Cert', () => {
    let pem: string;
    beforeAll(async () => {
      const ca = await TestCa.create(tempDir());
      pem = (await ca.issue({ subject: '/O=Example/CN=device-42', altNames: ['email:ops@example.com'] })).cert.toString();
    });

    test('every fact comes from the URL-encoded PEM, which must match Hash', () => {
      const expected = certificateFacts(new crypto.X509Certificate(pem).raw);
      expect(factsFromForwardedClientCert(`Hash=${expected.fingerprint_sha256};Cert="${encodeURIComponent(pem)}";Subject="CN=forged"`)).toEqual(expected);
      expect(factsFromForwardedClientCert(`Cert="${encodeURIComponent(pem)}"`)).toEqual(expected);
      expect(factsFromForwardedClientCert(`Hash=${HASH};Cert="${encodeURIComponent(pem)}"`)).toBeUndefined();
    });

    test('nginx $ssl_client_escaped_cert and Traefik passTLSClientCert forms are read as certificates', () => {
      const der = new crypto.X509Certificate(pem).raw;
      expect(certificateFromEscaped(encodeURIComponent(pem))).toEqual(der);
      const body = pem.replace(/-----[A-Z ]+-----|\s/g, '');
      expect(certificateFromEscaped(`${encodeURIComponent(body)},${encodeURIComponent(body)}`)).toEqual(der);
      expect(certificateFromEscaped('%E0%A4%A')).toBeUndefined();
      expect(certificateFromEscaped('not base64!')).toBeUndefined();
    });
  });
});
