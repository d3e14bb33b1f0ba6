// The mTLS options of a verifier listener and the verifier's client certificate options:
// what they become, and the YAML path and fix named for each mistake.
import { ConfigError } from '../../src/config/ConfigError';
import { parseConfig } from '../../src/app/loadConfig';

const TLS = 'key_file: tls.key\n    crt_file: tls.crt';

function config(listener: string, verifier = '') {
  return parseConfig(`jwtproxy:
  signer_proxy: {enabled: false}
  verifier_proxies:
  - listen_addr: :8082
    ${listener}
    verifier:
      upstream: http://127.0.0.1:8000/
      audience: http://127.0.0.1:8081/
      key_server: {type: preshared, options: {issuer: jwtproxy, key_id: mykey, public_key_path: mykey.pub}}
      ${verifier}
`).verifierProxies[0];
}

function errorOf(listener: string, verifier = ''): string {
  try {
    config(listener, verifier);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

const AT = 'jwtproxy.verifier_proxies[0]';

describe('listener mTLS options', () => {
  test('client_ca_file on a TLS listener asks for client certificates, required by default', () => {
    expect(config(`${TLS}\n    client_ca_file: clients.pem`).tls).toEqual({ keyFile: 'tls.key', crtFile: 'tls.crt', clientAuth: { caFile: 'clients.pem', mode: 'require' } });
  });

  test('client_auth: optional and a crl_file', () => {
    expect(config(`${TLS}\n    client_ca_file: clients.pem\n    client_auth: optional\n    crl_file: clients.crl`).tls?.clientAuth).toEqual({
      caFile: 'clients.pem',
      mode: 'optional',
      crlFile: 'clients.crl',
    });
  });

  test('without client_ca_file the listener asks for no certificate', () => {
    expect(config(TLS).tls).toEqual({ keyFile: 'tls.key', crtFile: 'tls.crt' });
  });

  test('client_ca_file on a plain HTTP listener is refused', () => {
    expect(errorOf('client_ca_file: clients.pem')).toBe(`${AT}.client_ca_file: client certificates need a TLS listener: set key_file and crt_file too, or remove client_ca_file`);
  });

  test('client_auth and crl_file without client_ca_file are refused', () => {
    expect(errorOf(`${TLS}\n    client_auth: require`)).toBe(`${AT}.client_auth: needs client_ca_file: the PEM file of the CAs whose client certificates this listener accepts`);
    expect(errorOf(`${TLS}\n    crl_file: clients.crl`)).toBe(`${AT}.crl_file: needs client_ca_file: the PEM file of the CAs whose client certificates this listener accepts`);
  });

  test('client_auth is require or optional', () => {
    expect(errorOf(`${TLS}\n    client_ca_file: clients.pem\n    client_auth: request`)).toBe(`${AT}.client_auth: "request" is not one of require, optional`);
  });
});

describe('verifier client certificate options', () => {
  const VERIFIER_AT = `${AT}.verifier`;

  test('by default nothing is forwarded and no gateway is trusted', () => {
    expect(config(TLS).verifier.clientCertificates).toEqual({ forward: 'none' });
  });

  test('forward_client_cert: xfcc', () => {
    expect(config(TLS, 'forward_client_cert: xfcc').verifier.clientCertificates.forward).toBe('xfcc');
    expect(errorOf(TLS, 'forward_client_cert: pem')).toBe(`${VERIFIER_AT}.forward_client_cert: "pem" is not one of none, xfcc`);
  });

  test('forward_client_cert: xfcc and a claims_to_headers entry of the same name are refused', () => {
    expect(errorOf(TLS, 'forward_client_cert: xfcc\n      claims_to_headers: {X-Forwarded-Client-Cert: claims.sub}')).toBe(
      `${VERIFIER_AT}.forward_client_cert: claims_to_headers writes x-forwarded-client-cert already; remove it there or set forward_client_cert: none`,
    );
  });

  test('a trusted gateway header with its CIDRs', () => {
    const trusted = config('', 'trusted_client_cert_header: X-Forwarded-Client-Cert\n      trusted_gateways: [127.0.0.1/32, "::1", 10.0.0.0/8]').verifier.clientCertificates.trustedHeader!;
    expect(trusted).toMatchObject({ name: 'x-forwarded-client-cert', format: 'xfcc' });
    expect(['127.0.0.1', '::1', '10.1.2.3', '::ffff:10.1.2.3'].map((address) => trusted.gateways.includes(address))).toEqual([true, true, true, true]);
    expect(['127.0.0.2', '::2', '11.0.0.1', undefined].map((address) => trusted.gateways.includes(address))).toEqual([false, false, false, false]);
  });

  test('trusted_client_cert_format: pem', () => {
    expect(
      config('', 'trusted_client_cert_header: x-ssl-client-cert\n      trusted_client_cert_format: pem\n      trusted_gateways: 10.0.0.0/8').verifier.clientCertificates.trustedHeader,
    ).toMatchObject({
      name: 'x-ssl-client-cert',
      format: 'pem',
    });
  });

  test('a trusted header needs the gateways, and the gateways a header', () => {
    expect(errorOf('', 'trusted_client_cert_header: x-forwarded-client-cert')).toBe(
      `${VERIFIER_AT}.trusted_gateways: is required with trusted_client_cert_header: the addresses (CIDR) of the gateways allowed to send it, e.g. [10.0.0.0/8]`,
    );
    expect(errorOf('', 'trusted_gateways: [10.0.0.0/8]')).toBe(
      `${VERIFIER_AT}.trusted_gateways: needs trusted_client_cert_header: the header the gateway sends the client certificate in, e.g. x-forwarded-client-cert`,
    );
    expect(errorOf('', 'trusted_client_cert_format: pem')).toBe(
      `${VERIFIER_AT}.trusted_client_cert_format: needs trusted_client_cert_header: the header the gateway sends the client certificate in, e.g. x-forwarded-client-cert`,
    );
  });

  test('a gateway that is not an address or CIDR range is named by its index', () => {
    for (const bad of ['10.0.0/8', '10.0.0.0/33', '::1/129', 'gateway.example', '10.0.0.0/8/8', '10.0.0.0/']) {
      expect(errorOf('', `trusted_client_cert_header: x-forwarded-client-cert\n      trusted_gateways: [127.0.0.1, "${bad}"]`)).toBe(
        `${VERIFIER_AT}.trusted_gateways[1]: ${JSON.stringify(bad)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1/32, ::1/128)`,
      );
    }
  });

  test('the trusted header may not be one the proxy reserves', () => {
    expect(errorOf('', 'trusted_client_cert_header: authorization\n      trusted_gateways: [127.0.0.1]')).toBe(
      `${VERIFIER_AT}.trusted_client_cert_header: "authorization" is reserved for the proxy itself; choose another header name`,
    );
  });
});
