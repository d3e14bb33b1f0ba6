// mTLS on a TLS listener: the CA and CRL files as secure context options (read again on
// every reload), and the rule that a client certificate which does not verify ends the
// connection in either mode — `optional` only lets a client present none.
import * as fs from 'node:fs';
import type * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger';
import { DerError, DerReader } from '../x509/der';
import { distinguishedName } from '../x509/distinguishedName';
import { certificateSubject, crlIssuer } from '../x509/issuerNames';
import { pemBlock, pemBlocks } from '../x509/pem';
import type { ClientAuthConfig } from './listenerConfig';

function readPem(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the ${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function subjectText(der: Buffer): string {
  return distinguishedName(new DerReader(certificateSubject(der)).next()).text;
}

/**
 * The CA certificates and CRLs for a secure context. Node reads one CRL per buffer, so each
 * CRL is passed on its own; OpenSSL then checks every certificate of a chain, so a CA without
 * a CRL would make every client it issued fail: that is refused here, at start or reload.
 */
export function clientAuthContext(clientAuth: ClientAuthConfig): { ca: Buffer[]; crl?: Buffer[] } {
  const caPem = readPem(clientAuth.caFile, 'client_ca_file');
  const cas = pemBlocks(caPem, 'CERTIFICATE');
  if (cas.length === 0) throw new Error(`client_ca_file ${clientAuth.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const ca = cas.map((der) => Buffer.from(pemBlock(der, 'CERTIFICATE')));
  if (!clientAuth.crlFile) return { ca };
  const crls = pemBlocks(readPem(clientAuth.crlFile, 'crl_file'), 'X509 CRL');
  if (crls.length === 0) throw new Error(`crl_file ${clientAuth.crlFile} holds no PEM CRL (-----BEGIN X509 CRL-----)`);
  try {
    const issuers = crls.map(crlIssuer);
    for (const der of cas) {
      const subject = certificateSubject(der);
      if (!issuers.some((issuer) => issuer.equals(subject))) {
        throw new Error(
          `crl_file ${clientAuth.crlFile} has no CRL issued by the client CA "${subjectText(der)}"; every CA in client_ca_file needs its current CRL there, or its clients are all refused`,
        );
      }
    }
  } catch (error) {
    if (error instanceof DerError) throw new Error(`client_ca_file ${clientAuth.caFile} or crl_file ${clientAuth.crlFile} is not valid DER inside its PEM: ${error.message}`);
    throw error;
  }
  return { ca, crl: crls.map((der) => Buffer.from(pemBlock(der, 'X509 CRL'))) };
}

/** Server options: ask every client for a certificate; with `require`, OpenSSL refuses a handshake without one. */
export function clientAuthServerOptions(clientAuth: ClientAuthConfig): { requestCert: true; rejectUnauthorized: boolean } {
  return { requestCert: true, rejectUnauthorized: clientAuth.mode === 'require' };
}

/**
 * Ends connections whose certificate failed verification (Node does so itself only with
 * `require`), and logs why a client was refused: the client only sees its connection close.
 */
export function enforceClientAuth(server: https.Server, clientAuth: ClientAuthConfig, logger: Logger): void {
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = socket.authorizationError ?? (error.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ? 'NO_CLIENT_CERTIFICATE' : undefined);
    if (reason) logger.info({ client: socket.remoteAddress, reason }, 'client certificate refused');
    else logger.debug({ client: socket.remoteAddress, err: error }, 'TLS handshake failed');
  });
  if (clientAuth.mode !== 'optional') return;
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized || Object.keys(socket.getPeerCertificate()).length === 0) return;
    logger.info({ client: socket.remoteAddress, reason: socket.authorizationError }, 'client certificate refused');
    socket.destroy();
  });
}
