// The registry of provider presets: one line per `provider.type`.
import { awsAlb } from './awsAlb';
import { cloudflareAccess } from './cloudflareAccess';
import { googleIap } from './googleIap';
import { oidc } from './oidc';
import { pomerium } from './pomerium';
import type { ProviderType } from './ProviderPreset';

export const PROVIDER_TYPES = {
  cloudflare_access: cloudflareAccess,
  google_iap: googleIap,
  aws_alb: awsAlb,
  pomerium,
  oidc,
} satisfies Record<string, ProviderType>;

export type ProviderName = keyof typeof PROVIDER_TYPES;
export const PROVIDER_NAMES = Object.keys(PROVIDER_TYPES) as ProviderName[];
