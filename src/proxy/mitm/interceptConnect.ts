// Terminates a CONNECT tunnel with a forged certificate and hands the decrypted connection to the
// proxy's own http.Server, which then sees the tunnelled requests as ordinary requests. The TLS
// socket carries its CONNECT target itself, so no registry outside the connection is needed.
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { Logger } from '../../observability/logger';
import { parseConnectTarget, type ConnectTarget } from './connectTarget';
import type { LeafCertificateForger } from './LeafCertificateForger';
import { endWithResponse } from '../rawResponse';

export interface InterceptOptions {
  /** Receives the TLS socket as a 'connection' once the handshake is done. */
  server: http.Server;
  forger: LeafCertificateForger;
  logger: Logger;
  /** A client that has not finished its TLS handshake by then is dropped. Default 10 s. */
  handshakeTimeoutMs?: number;
}

/** The decrypted side of an intercepted tunnel: a TLS socket that knows the CONNECT target it serves. */
class TunnelSocket extends tls.TLSSocket {
  constructor(
    socket: Duplex,
    options: tls.TLSSocketOptions,
    readonly connectTarget: ConnectTarget,
  ) {
    super(socket, options);
  }
}

/**
 * The CONNECT target a tunnelled request arrived through (read it from `req.socket`), or undefined
 * for a connection that did not come through an intercepted tunnel.
 */
export function connectTargetOf(socket: object | null | undefined): ConnectTarget | undefined {
  return socket instanceof TunnelSocket ? socket.connectTarget : undefined;
}

/**
 * Handles an http.Server 'connect' event: validates the target (400 if invalid), then intercepts
 * it as interceptTarget does. Never throws; failures are answered to the client and logged.
 */
export function interceptConnect(req: http.IncomingMessage, clientSocket: Duplex, head: Buffer, options: InterceptOptions): void {
  let target: ConnectTarget;
  try {
    target = parseConnectTarget(req.url ?? '');
  } catch (error) {
    clientSocket.on('error', (socketError) => options.logger.debug({ err: socketError, target: req.url }, 'MITM tunnel: client socket error'));
    options.logger.info({ err: error }, 'MITM tunnel refused');
    refuse(clientSocket, 400, `jwtproxy: ${(error as Error).message}`);
    return;
  }
  interceptTarget(target, clientSocket, head, options);
}

/**
 * Intercepts a tunnel to an already validated target: forges or reuses its certificate (502 if
 * impossible), answers 200, and serves TLS (http/1.1 only) on the tunnel. Never throws.
 */
export function interceptTarget(target: ConnectTarget, clientSocket: Duplex, head: Buffer, options: InterceptOptions): void {
  const { logger } = options;
  clientSocket.on('error', (error) => logger.debug({ err: error, target: target.authority }, 'MITM tunnel: client socket error'));

  options.forger.secureContextFor(target.hostname).then(
    (context) => {
      if (clientSocket.destroyed) return;
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      serveTls(clientSocket, head, target, context, options);
    },
    (error: unknown) => {
      logger.error({ err: error, target: target.authority }, 'MITM tunnel: cannot forge a certificate');
      refuse(clientSocket, 502, `jwtproxy: unable to intercept the connection: ${(error as Error).message}`);
    },
  );
}

function serveTls(clientSocket: Duplex, head: Buffer, target: ConnectTarget, context: tls.SecureContext, options: InterceptOptions): void {
  const { logger } = options;
  // Bytes the client sent right after the CONNECT head (an early ClientHello) belong to TLS.
  if (head.length > 0) clientSocket.unshift(head);

  const tlsOptions: tls.TLSSocketOptions = {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ['http/1.1'],
    // The certificate always names the CONNECT target, which is also where requests go. A client
    // whose SNI names another host would otherwise be told it talks to a host it does not reach,
    // so such a handshake is aborted rather than given a certificate for the SNI name.
    SNICallback: (servername, callback) => {
      const sni = (servername.endsWith('.') ? servername.slice(0, -1) : servername).toLowerCase();
      if (sni === target.hostname) return callback(null, context);
      logger.debug({ target: target.authority, sni: servername }, 'MITM tunnel: SNI differs from the CONNECT target; handshake refused');
      callback(new Error(`TLS server name ${JSON.stringify(servername)} differs from the CONNECT target ${target.authority}`));
    },
  };
  const tlsSocket = new TunnelSocket(clientSocket, tlsOptions, target);

  let handedOver = false;
  const handshakeTimer = setTimeout(() => {
    logger.debug({ target: target.authority }, 'MITM tunnel: TLS handshake timed out');
    tlsSocket.destroy();
  }, options.handshakeTimeoutMs ?? 10_000);
  // A pending handshake must not keep a stopping process alive.
  handshakeTimer.unref();

  tlsSocket.once('secure', () => {
    clearTimeout(handshakeTimer);
    handedOver = true;
    // From here the http.Server owns the socket, exactly as https.Server does after a handshake.
    options.server.emit('connection', tlsSocket);
  });
  tlsSocket.once('close', () => clearTimeout(handshakeTimer));
  // http.Server sockets allow half-open connections, so a client's FIN mid-handshake would
  // otherwise leave the tunnel open until the timeout. After the hand-over, http.Server handles it.
  tlsSocket.once('end', () => {
    if (handedOver) return;
    logger.debug({ target: target.authority }, 'MITM tunnel: client closed the tunnel during the TLS handshake');
    tlsSocket.destroy();
  });
  tlsSocket.on('error', (error) => {
    logger.debug({ err: error, target: target.authority }, handedOver ? 'MITM tunnel: TLS socket error' : 'MITM tunnel: TLS handshake failed');
    if (!handedOver) tlsSocket.destroy();
  });
}

function refuse(socket: Duplex, status: number, message: string): void {
  endWithResponse(socket, status, `${message}\n`);
}
