// Whose certificate a request comes with. From a trusted gateway (its address in
// trusted_gateways) only its header counts, never the gateway's own connection certificate;
// from any other peer, the certificate its TLS connection verified, read once per connection.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { canonicalHeaderName } from '../util/headerName';
import type { CertificateFacts } from '../x509/CertificateFacts';
import { certificateFromEscaped, factsFromDer, factsFromForwardedClientCert } from './forwardedClientCert';
import type { ClientCertificateConfig } from './clientCertificatesConfig';

export class ClientCertificateSource {
  /** null: the connection has no verified certificate. */
  private readonly perConnection = new WeakMap<Socket, CertificateFacts | null>();

  constructor(private readonly config: ClientCertificateConfig) {}

  of(req: IncomingMessage): CertificateFacts | undefined {
    const trusted = this.config.trustedHeader;
    if (trusted?.gateways.includes(req.socket.remoteAddress)) {
      const values = fieldsNamed(req.rawHeaders, trusted.name);
      if (values.length === 0) return undefined;
      if (trusted.format === 'xfcc') return factsFromForwardedClientCert(values.join(','));
      // Two copies of a certificate header cannot both be the client's.
      return values.length === 1 ? factsFromDer(certificateFromEscaped(values[0])) : undefined;
    }
    return this.fromConnection(req.socket);
  }

  private fromConnection(socket: Socket): CertificateFacts | undefined {
    const known = this.perConnection.get(socket);
    if (known !== undefined) return known ?? undefined;
    const tls = socket as TLSSocket;
    // Only a certificate the handshake verified: a listener without client_ca_file asks for none.
    const facts = tls.encrypted && tls.authorized ? (factsFromDer(tls.getPeerX509Certificate()?.raw) ?? null) : null;
    this.perConnection.set(socket, facts);
    return facts ?? undefined;
  }
}

/**
 * Every field of the header `name` (canonical) in whatever spelling it came: `SSL_CLIENT_CERT`
 * and `ssl-client-cert` are one header to the applications behind, so a client's copy in the other
 * spelling must count as a second copy, not go unseen next to the gateway's.
 */
function fieldsNamed(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (canonicalHeaderName(rawHeaders[i]) === name) values.push(rawHeaders[i + 1]);
  return values;
}
