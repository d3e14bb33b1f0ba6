// The registry of claims verifier types.
import type { ClaimsVerifierConfig } from '../config/types';
import type { ClaimsVerifier } from './ClaimsVerifier';
import { StaticClaimsVerifier } from './StaticClaimsVerifier';

export function createClaimsVerifier(config: ClaimsVerifierConfig): ClaimsVerifier {
  switch (config.type) {
    case 'static':
      return new StaticClaimsVerifier(config.claims);
  }
}
