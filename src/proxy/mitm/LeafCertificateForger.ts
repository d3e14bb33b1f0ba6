// Forges short-lived leaf certificates for intercepted hosts, signed by the MITM CA, and caches their
// TLS contexts. Everything stays in memory: hostnames never become file names.
import * as crypto from 'node:crypto';
import * as tls from 'node:tls';
import { systemClock, type Clock } from '../../util/clock';
import { CertificateAuthorityError, type CertificateAuthority } from './CertificateAuthority';
import { generatePrivateKey, type KeyAlgorithm } from './generatePrivateKey';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  buildCertificate,
  distinguishedName,
  KeyUsage,
  keyUsageExtension,
  randomSerialNumber,
  serverAuthExtension,
  subjectAltNameExtension,
  subjectPublicKeyInfo,
  toPem,
} from './x509';

export interface LeafCertificateForgerOptions {
  /** The one key pair shared by every forged leaf; `ec` (P-256, the default) or `rsa` (2048). */
  keyAlgorithm?: KeyAlgorithm;
  /** Most TLS contexts kept; the least recently used goes first. Default 1000. */
  maxCachedContexts?: number;
  /**
   * Most forgeries under way at once; more new hosts wait their turn. Creating a TLS context is
   * synchronous (~0.5–2 ms in OpenSSL 3), so this bounds how long a burst of new hosts can hold the
   * event loop in one go. Default 4.
   */
  maxConcurrentForgeries?: number;
  /** Lifetime of a forged leaf from now, capped by the CA's own expiry. Default 7 days. */
  validityMs?: number;
  clock?: Clock;
  randomBytes?: (size: number) => Buffer;
}

export interface ForgedCertificate {
  /** The leaf alone. */
  certificatePem: string;
  notBefore: Date;
  notAfter: Date;
}

interface CachedContext {
  context: tls.SecureContext;
  /** Re-forged from half its lifetime on, so a cached leaf is never served expired. */
  renewAt: number;
}

const HOUR_MS = 3_600_000;
// Clients whose clock runs behind ours still accept a leaf issued "now".
const BACKDATE_MS = HOUR_MS;
// RFC 5280 ub-common-name: longer names go in the SAN only.
const MAX_COMMON_NAME_LENGTH = 64;

export class LeafCertificateForger {
  private readonly contexts = new Map<string, CachedContext>();
  private readonly inFlight = new Map<string, Promise<tls.SecureContext>>();
  /** Forgeries waiting for a slot; a finished forgery hands its slot to the first. */
  private readonly waiting: (() => void)[] = [];
  private activeForgeries = 0;
  private readonly maxConcurrentForgeries: number;
  private readonly fixedExtensions: Buffer[];
  private readonly spki: Buffer;
  private readonly maxCachedContexts: number;
  private readonly validityMs: number;
  private readonly clock: Clock;
  private readonly randomBytes: (size: number) => Buffer;

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly leafKeyPem: string,
    leafKey: crypto.KeyObject,
    options: LeafCertificateForgerOptions,
  ) {
    this.maxCachedContexts = options.maxCachedContexts ?? 1000;
    if (!(this.maxCachedContexts >= 1)) throw new RangeError('maxCachedContexts must be at least 1');
    this.maxConcurrentForgeries = options.maxConcurrentForgeries ?? 4;
    if (!(this.maxConcurrentForgeries >= 1)) throw new RangeError('maxConcurrentForgeries must be at least 1');
    this.validityMs = options.validityMs ?? 7 * 24 * HOUR_MS;
    this.clock = options.clock ?? systemClock;
    this.randomBytes = options.randomBytes ?? crypto.randomBytes;
    this.spki = subjectPublicKeyInfo(leafKey);
    // RSA key exchange (TLS 1.2 without ECDHE) needs keyEncipherment; an EC key only signs.
    const usage = leafKey.asymmetricKeyType === 'rsa' ? KeyUsage.digitalSignature | KeyUsage.keyEncipherment : KeyUsage.digitalSignature;
    this.fixedExtensions = [basicConstraintsExtension(undefined), keyUsageExtension(usage), serverAuthExtension()];
    if (ca.issuer.subjectKeyIdentifier) this.fixedExtensions.push(authorityKeyIdentifierExtension(ca.issuer.subjectKeyIdentifier));
  }

  /** Generates the shared leaf key pair (asynchronously) and returns a ready forger. */
  static async create(ca: CertificateAuthority, options: LeafCertificateForgerOptions = {}): Promise<LeafCertificateForger> {
    const leafKey = await generatePrivateKey(options.keyAlgorithm ?? 'ec');
    const leafKeyPem = leafKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    return new LeafCertificateForger(ca, leafKeyPem, leafKey, options);
  }

  /** Number of cached TLS contexts (bounded by maxCachedContexts). */
  get cachedContexts(): number {
    return this.contexts.size;
  }

  /**
   * The TLS context presenting a leaf for `hostname`: a lower-case DNS name or an IP literal (IPv6
   * without brackets), already validated (see parseConnectTarget). Concurrent calls for a new
   * hostname share one forgery. Rejects with CertificateAuthorityError once the CA has expired.
   */
  secureContextFor(hostname: string): Promise<tls.SecureContext> {
    const cached = this.contexts.get(hostname);
    if (cached && this.clock() < cached.renewAt) {
      // Re-insertion keeps the Map in least-recently-used-first order.
      this.contexts.delete(hostname);
      this.contexts.set(hostname, cached);
      return Promise.resolve(cached.context);
    }
    let pending = this.inFlight.get(hostname);
    if (!pending) {
      pending = this.forgeContext(hostname).finally(() => this.inFlight.delete(hostname));
      this.inFlight.set(hostname, pending);
    }
    return pending;
  }

  /** A new leaf for `hostname` (same contract as secureContextFor), bypassing the cache. */
  async forgeCertificate(hostname: string): Promise<ForgedCertificate> {
    const now = this.clock();
    const notBefore = new Date(Math.max(now - BACKDATE_MS, this.ca.notBefore.getTime()));
    const notAfter = new Date(Math.min(now + this.validityMs, this.ca.notAfter.getTime()));
    if (notAfter.getTime() <= now) {
      throw new CertificateAuthorityError('ERR_MITM_CA_EXPIRED', `the MITM CA expired on ${this.ca.notAfter.toISOString()}; renew it and restart`);
    }
    const withCommonName = hostname.length <= MAX_COMMON_NAME_LENGTH;
    const certificateDer = await buildCertificate(
      {
        serialNumber: randomSerialNumber(this.randomBytes),
        issuer: this.ca.issuer.subject,
        subject: distinguishedName(withCommonName ? hostname : undefined),
        notBefore,
        notAfter,
        subjectPublicKeyInfo: this.spki,
        extensions: [...this.fixedExtensions, subjectAltNameExtension(hostname, !withCommonName)],
      },
      this.ca.privateKey,
    );
    return { certificatePem: toPem(certificateDer), notBefore, notAfter };
  }

  private async forgeContext(hostname: string): Promise<tls.SecureContext> {
    if (this.activeForgeries < this.maxConcurrentForgeries) this.activeForgeries++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      const forged = await this.forgeCertificate(hostname);
      const context = tls.createSecureContext({ key: this.leafKeyPem, cert: forged.certificatePem + this.ca.chainPem });
      this.remember(hostname, context, forged.notAfter.getTime());
      return context;
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.activeForgeries--;
    }
  }

  private remember(hostname: string, context: tls.SecureContext, notAfter: number): void {
    const now = this.clock();
    this.contexts.delete(hostname);
    this.contexts.set(hostname, { context, renewAt: now + (notAfter - now) / 2 });
    while (this.contexts.size > this.maxCachedContexts) {
      this.contexts.delete(this.contexts.keys().next().value as string);
    }
  }
}
