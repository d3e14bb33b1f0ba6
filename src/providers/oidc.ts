// Any OpenID Connect provider: a bearer token, keys from the `jwks_uri` of
// <issuer>/.well-known/openid-configuration, iss the issuer, aud the client id or API
// identifier; jti, where present, is not single-use (the provider's tokens are reused).
import type { ConfigNode } from '../config/ConfigNode';
import { VERIFICATION_ALGORITHMS } from '../jwt/algorithms';
import { jwksKeyServer, type ProviderPreset, type ProviderType } from './ProviderPreset';

export const oidc: ProviderType = {
  parse(options: ConfigNode): ProviderPreset {
    const issuer = options.httpUrl('issuer', 'the issuer URL of the provider, e.g. https://accounts.example.com').href.replace(/\/$/, '');
    const issuerText = options.string('issuer')!;
    const jwksUrl = options.has('jwks_url') ? options.httpUrl('jwks_url', 'the JWKS URL') : undefined;
    const discoveryUrl = jwksUrl ? undefined : options.has('discovery_url') ? options.httpUrl('discovery_url', 'the discovery document URL') : new URL(`${issuer}/.well-known/openid-configuration`);
    if (!options.has('discovery_url')) options.raw('discovery_url');
    const audiences = options.stringList('audience');
    if (audiences.length === 0) options.fail('audience', 'is required: the client id or API identifier the tokens are issued for');
    return {
      tokenSources: [{ type: 'authorization' }],
      keyServer: jwksKeyServer(jwksUrl, [issuerText], discoveryUrl),
      issuers: [issuerText],
      audiences,
      algorithms: [...VERIFICATION_ALGORITHMS],
      headers: { names: [], prefixes: [] },
      // OpenID Connect Core 1.0 §2 (ID Token): iss, sub, aud, exp and iat are REQUIRED; §3.1.3.7
      // validation checks iss, aud, the signature, exp and iat. A token without them is refused.
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    };
  },
};
