// Client certificates in a verifier's config (RFC 8705 mTLS): the listener's mTLS options (client_ca_file,
// client_auth, crl_file) and the verifier's forwarding of the facts (forward_client_cert) or
// trust in a gateway's header (trusted_client_cert_header, trusted_gateways).
import type { ConfigNode } from '../config/ConfigNode';
import type { ListenerConfig } from '../proxy/listenerConfig';
import { InvalidGatewayError, TrustedGateways } from './TrustedGateways';

/** Where a verifier's client certificate facts come from and where they go. */
export interface ClientCertificateConfig {
  /** 'xfcc': the verified certificate goes upstream as Envoy's X-Forwarded-Client-Cert. */
  forward: 'none' | 'xfcc';
  /** A gateway in front that terminated mTLS: its header describes the client, when the peer is one of `gateways`. */
  trustedHeader?: { name: string; format: 'xfcc' | 'pem'; gateways: TrustedGateways };
}

export const FORWARDED_CLIENT_CERT_HEADER = 'x-forwarded-client-cert';

const CA_HINT = 'client_ca_file: the PEM file of the CAs whose client certificates this listener accepts';

/** The listener's TLS settings with its client authentication, when client_ca_file is set. */
export function parseClientAuth(listener: ConfigNode, tls: ListenerConfig['tls']): ListenerConfig['tls'] {
  const caFile = listener.string('client_ca_file', '');
  const mode = listener.has('client_auth') ? listener.choice('client_auth', ['require', 'optional'] as const, 'require') : (listener.raw('client_auth'), undefined);
  const crlFile = listener.string('crl_file', '');
  if (!caFile) {
    if (mode) listener.fail('client_auth', `needs ${CA_HINT}`);
    if (crlFile) listener.fail('crl_file', `needs ${CA_HINT}`);
    return tls;
  }
  if (!tls) listener.fail('client_ca_file', 'client certificates need a TLS listener: set key_file and crt_file too, or remove client_ca_file');
  listener.requires('client_ca_file', { kind: 'file', path: caFile, holds: 'trusted_certificates' });
  if (crlFile) listener.requires('crl_file', { kind: 'file', path: crlFile, holds: 'any' });
  return { ...tls, clientAuth: { caFile, mode: mode ?? 'require', crlFile: crlFile || undefined } };
}

/** forward_client_cert and the trusted gateway options of a `verifier:` mapping. */
export function parseClientCertificates(verifier: ConfigNode, mappedHeaderNames: readonly string[], reservedHeaders: readonly string[]): ClientCertificateConfig {
  const forward = verifier.choice('forward_client_cert', ['none', 'xfcc'] as const, 'none');
  if (forward === 'xfcc' && mappedHeaderNames.includes(FORWARDED_CLIENT_CERT_HEADER)) {
    verifier.fail('forward_client_cert', 'claims_to_headers writes x-forwarded-client-cert already; remove it there or set forward_client_cert: none');
  }
  const name = verifier.headerName('trusted_client_cert_header', reservedHeaders);
  if (!name) {
    for (const key of ['trusted_gateways', 'trusted_client_cert_format']) {
      if (verifier.raw(key) !== undefined && verifier.has(key))
        verifier.fail(key, 'needs trusted_client_cert_header: the header the gateway sends the client certificate in, e.g. x-forwarded-client-cert');
    }
    return { forward };
  }
  const format = verifier.choice('trusted_client_cert_format', ['xfcc', 'pem'] as const, 'xfcc');
  const gatewayList = verifier.stringList('trusted_gateways');
  if (gatewayList.length === 0) {
    verifier.fail('trusted_gateways', 'is required with trusted_client_cert_header: the addresses (CIDR) of the gateways allowed to send it, e.g. [10.0.0.0/8]');
  }
  let gateways: TrustedGateways;
  try {
    gateways = TrustedGateways.parse(gatewayList);
  } catch (error) {
    if (!(error instanceof InvalidGatewayError)) throw error;
    verifier.fail(Array.isArray(verifier.raw('trusted_gateways')) ? `trusted_gateways[${error.index}]` : 'trusted_gateways', error.reason);
  }
  return { forward, trustedHeader: { name, format, gateways } };
}
