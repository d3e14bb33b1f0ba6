// Whose certificate a request comes with (C5). From a trusted gateway (its address in
// trusted_gateways) only its header counts, never the gateway's own connection certificate;
// from any other peer, the certificate its TLS connection verified, read once per connection.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CertificateFacts } from '../x509/CertificateFacts';
import { certificateFromEscaped, factsFromDer, factsFromForwardedClientCert } from './forwardedClientCert';
import type { ClientCertificateConfig } from './clientCertificatesConfig';

export class ClientCertificateSource {
  /** null: the connection has no verified certificate. */
  private readonly perConnection = new WeakMap<Socket, CertificateFacts | null>();

  constructor(private readonly config: ClientCertificateConfig) {}

  of(req: IncomingMessage): CertificateFacts | undefined {
    const trusted = this.config.trustedHeader;
    if (trusted && trusted.gateways.includes(req.socket.remoteAddress)) {
      const values = req.headersDistinct[trusted.name];
      if (!values) return undefined;
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
