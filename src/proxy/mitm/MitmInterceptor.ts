// The MITM of CONNECT as a component of its own: it holds the CA and the certificate forger
// (loaded at start, re-read on reload), intercepts tunnels to validated targets, and names the
// target a decrypted connection came through. The proxy that owns it decides which targets to admit.
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../observability/logger';
import type { Clock } from '../../util/clock';
import type { Service } from '../../util/ServiceGroup';
import { CertificateAuthority, type CertificateAuthorityFiles } from './CertificateAuthority';
import type { ConnectTarget } from './connectTarget';
import { connectTargetOf, interceptTarget } from './interceptConnect';
import { LeafCertificateForger } from './LeafCertificateForger';

/** What a proxy needs from an interceptor: a Service that turns a CONNECT into decrypted requests. */
export interface ConnectInterceptor extends Service {
  reload(): Promise<void>;
  /**
   * Intercepts a tunnel to `target` (already validated and admitted); once TLS is up the decrypted
   * connection is handed to `server` as a 'connection'. Called once started; failures are answered
   * to the client and logged, never thrown.
   */
  intercept(target: ConnectTarget, clientSocket: Duplex, head: Buffer, server: http.Server): void;
  /** The CONNECT target of a connection an interceptor handed over; undefined for any other connection. */
  targetOf(socket: object | null | undefined): ConnectTarget | undefined;
}

export interface MitmInterceptorDeps {
  clock: Clock;
  logger: Logger;
  /** A client that has not finished its TLS handshake by then is dropped. Default 10 s. */
  handshakeTimeoutMs?: number;
}

export class MitmInterceptor implements ConnectInterceptor {
  private forger?: LeafCertificateForger;

  constructor(
    private readonly caFiles: CertificateAuthorityFiles,
    private readonly deps: MitmInterceptorDeps,
  ) {}

  start(): Promise<void> {
    return this.loadCertificateAuthority();
  }

  async stop(): Promise<void> {
    // Tunnels belong to the proxy's sockets, which the proxy cuts when it stops.
  }

  /** Re-reads the CA files; when they fail to load, the CA in use stays. */
  reload(): Promise<void> {
    return this.loadCertificateAuthority();
  }

  intercept(target: ConnectTarget, clientSocket: Duplex, head: Buffer, server: http.Server): void {
    if (!this.forger) throw new Error('the MITM interceptor has not started');
    interceptTarget(target, clientSocket, head, { server, forger: this.forger, logger: this.deps.logger, handshakeTimeoutMs: this.deps.handshakeTimeoutMs });
  }

  targetOf(socket: object | null | undefined): ConnectTarget | undefined {
    return connectTargetOf(socket);
  }

  private async loadCertificateAuthority(): Promise<void> {
    const ca = await CertificateAuthority.load(this.caFiles, this.deps.clock);
    this.forger = await LeafCertificateForger.create(ca, { clock: this.deps.clock });
  }
}
