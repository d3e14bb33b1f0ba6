// Makes the token the signer attaches to one request: Go's claims for the audience,
// the configured static claims and the per-request header claims, signed off the event loop.
import { randomNonce, signerClaims } from '../jwt/signerClaims';
import { signToken, type Claims } from '../jwt/token';
import type { PrivateKeySource } from '../keys/PrivateKeySource';
import type { Clock } from '../util/clock';
import type { SignerConfig } from './signerConfig';

export class TokenSigner {
  private readonly hasExtraClaims: boolean;

  constructor(
    private readonly config: SignerConfig,
    private readonly keys: PrivateKeySource,
    private readonly clock: Clock,
  ) {
    this.hasExtraClaims = Object.keys(config.staticClaims).length > 0 || Object.keys(config.headerClaims).length > 0;
  }

  /** Rejects with NoSigningKeyError when no key is usable yet. */
  sign(audience: string, headerClaims?: Claims): Promise<string> {
    const key = this.keys.signingKey();
    const { config } = this;
    const extra = this.hasExtraClaims ? { ...config.staticClaims, ...headerClaims } : undefined;
    const times = { nowMs: this.clock(), expirationTimeMs: config.expirationTimeMs, maxSkewMs: config.maxSkewMs };
    const claims = signerClaims(config.issuer, audience, randomNonce(config.nonceLength), times, extra);
    return signToken(key.algorithm, key.key, key.keyId, claims);
  }
}
