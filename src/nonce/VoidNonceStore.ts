// The nonce storage `void`: no replay protection at all, chosen explicitly in the config.
import type { Logger } from '../observability/logger';
import type { NonceStore } from './NonceStore';

export class VoidNonceStore implements NonceStore {
  constructor(private readonly logger: Logger) {}

  async start(): Promise<void> {
    this.logger.warn('nonce storage is "void": replay protection is off, a captured token can be reused until it expires');
  }

  async stop(): Promise<void> {}

  claim(_jti: string, _expiresAtMs: number): Promise<boolean> {
    return Promise.resolve(true);
  }
}
