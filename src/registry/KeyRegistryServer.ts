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
import type * as http from 'node:http';
import { isLoopbackListenAddr } from '../proxy/listenerConfig';
import { REGISTRY_LISTENER_LIMITS, type KeyRegistryConfig } from './registryConfig';
import type { NonceStore } from '../nonce/NonceStore';
import { silentLogger, type Logger } from '../observability/logger';
import { closeGracefully, createServer, listen, serverUrl } from '../proxy/listener';
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
  private server?: http.Server;
  private adminServer?: http.Server;
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
      this.server = createServer(config.tls, this.logger, handler, limits);
      await listen(this.server, config);
      if (config.admin.enabled) {
        this.adminServer = createServer(undefined, this.logger, createAdminHandler(this.registry, config.admin.token, this.logger), limits);
        await listen(this.adminServer, { listenAddr: config.admin.listenAddr, socketPermission: ADMIN_SOCKET_PERMISSION });
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
    const servers = [this.server, this.adminServer].filter((server): server is http.Server => server !== undefined);
    this.server = undefined;
    this.adminServer = undefined;
    await Promise.all(servers.map((server) => closeGracefully(server, this.config.shutdownTimeoutMs)));
    await this.sweeping;
    await this.storage.stop();
  }

  /** Where the protocol listener is reached: http(s)://host:port, or unix:/path. */
  address(): URL {
    if (!this.server) throw new Error('the key registry is not listening');
    return new URL(serverUrl(this.server, this.config.tls ? 'https' : 'http'));
  }

  /** Where the admin API is reached, when enabled. */
  adminAddress(): URL | undefined {
    return this.adminServer ? new URL(serverUrl(this.adminServer)) : undefined;
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
