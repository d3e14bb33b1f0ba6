// The built-in key registry: the protocol listener, the optional admin listener,
// the storage the config names, and a periodic sweep that records expiries and ends of grace.
//
// Rotation grace: a key replaced by a rotation is still served for rotation_grace, so a
// verifier that receives a token the old key signed just before the rotation can still fetch
// that key; its max-age never runs past the end of the grace. Revocations (admin or owner) are
// immediate at the registry, but verifiers keep a cached key until its max-age runs out
// (max_cache_age at most).
//
// approval: auto approves the first self-signed key of a service from anyone who can reach the
// registry (later keys of it need a rotation or an administrator, unless the service is in
// auto_approve_services): keep it for trusted networks; manual approval is the default.
//
// The nonce store (the replay check of request tokens) belongs to the caller, who starts it
// before start() and stops it after stop(). Several registry processes sharing Redis storage
// must share one replay view too (a Redis nonce store).
import { isLoopbackListenAddr } from '../proxy/listenerConfig';
import { REGISTRY_LISTENER_LIMITS, type KeyRegistryConfig } from './registryConfig';
import type { NonceStore } from '../nonce/NonceStore';
import { silentLogger, type Logger } from '../observability/logger';
import { Listener } from '../proxy/listener';
import { systemClock, type Clock } from '../util/clock';
import { createAdminHandler } from './createAdminHandler';
import { createKeyStorage } from './createKeyStorage';
import { createProtocolHandler } from './createProtocolHandler';
import { KeyRegistry, registryPolicy } from './KeyRegistry';
import { KeyStorageError, type KeyStorage } from './KeyStorage';
import { RequestAuthenticator } from './RequestAuthenticator';

export interface KeyRegistryServerDeps {
  nonceStore: NonceStore;
  clock?: Clock;
  logger?: Logger;
  /** Used instead of the storage the config names; the server starts and stops it all the same. */
  storage?: KeyStorage;
  /** How often expiries are recorded and old records purged. Default 1 min. */
  sweepIntervalMs?: number;
}

// The admin socket, when unix:, grants key approval: only its owner may use it.
const ADMIN_SOCKET_PERMISSION = 0o600;

export class KeyRegistryServer {
  readonly registry: KeyRegistry;
  private readonly storage: KeyStorage;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sweepIntervalMs: number;
  private listener?: Listener;
  private adminListener?: Listener;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;

  constructor(
    private readonly config: KeyRegistryConfig,
    private readonly deps: KeyRegistryServerDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? silentLogger;
    this.sweepIntervalMs = deps.sweepIntervalMs ?? 60_000;
    this.storage = deps.storage ?? createKeyStorage(config.storage, this.logger);
    this.registry = new KeyRegistry(registryPolicy(config), { storage: this.storage, clock: this.clock, logger: this.logger });
  }

  async start(): Promise<void> {
    const { config } = this;
    await this.storage.start();
    try {
      const authenticator = new RequestAuthenticator({ nonceStore: this.deps.nonceStore, clock: this.clock });
      const handler = createProtocolHandler({ registry: this.registry, authenticator, clock: this.clock, logger: this.logger, audience: config.audience });
      const limits = config.limits ?? REGISTRY_LISTENER_LIMITS;
      this.listener = new Listener({ ...config, limits }, this.logger, handler);
      await this.listener.start();
      if (config.admin.enabled) {
        const admin = { listenAddr: config.admin.listenAddr, socketPermission: ADMIN_SOCKET_PERMISSION, shutdownTimeoutMs: config.shutdownTimeoutMs, limits };
        this.adminListener = new Listener(admin, this.logger, createAdminHandler(this.registry, config.admin.token, this.logger));
        await this.adminListener.start();
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.sweepTimer.unref();
    if (!config.audience) {
      this.logger.warn("key_registry.audience is not set: request tokens are checked against each request's Host header; set it to the registry's public URL");
    }
    if (config.admin.enabled && !config.admin.token && !isLoopbackListenAddr(config.admin.listenAddr)) {
      this.logger.warn({ admin: config.admin.listenAddr }, 'the key registry admin API listens beyond loopback without a token: anyone reaching it can approve keys');
    }
    this.logger.info({ address: this.address().href, admin: this.adminAddress()?.href, storage: config.storage.type, approval: config.approval }, 'key registry listening');
  }

  /** Stops accepting, lets in-flight requests finish within shutdownTimeoutMs, then closes the storage. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const listeners = [this.listener, this.adminListener].filter((listener): listener is Listener => listener !== undefined);
    this.listener = undefined;
    this.adminListener = undefined;
    await Promise.all(listeners.map((listener) => listener.stop()));
    await this.sweeping;
    await this.storage.stop();
  }

  /** Where the protocol listener is reached: http(s)://host:port, or unix:/path. */
  address(): URL {
    if (!this.listener) throw new Error('the key registry is not listening');
    return new URL(this.listener.url);
  }

  /** Where the admin API is reached, when enabled. */
  adminAddress(): URL | undefined {
    return this.adminListener ? new URL(this.adminListener.url) : undefined;
  }

  private sweep(): void {
    if (this.sweeping) return;
    this.sweeping = this.registry
      .sweep()
      // A storage outage is logged by the storage itself, when it starts and ends.
      .catch((error: unknown) => this.logger[error instanceof KeyStorageError ? 'debug' : 'warn']({ err: error }, 'key registry sweep failed; retrying at the next interval'))
      .finally(() => {
        this.sweeping = undefined;
      });
  }
}
