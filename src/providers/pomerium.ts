// Pomerium: the token in `X-Pomerium-Jwt-Assertion`, ES256 keys at
// https://<route host>/.well-known/pomerium/jwks.json, iss and aud the route's host.
import type { ConfigNode } from '../config/ConfigNode';
import { jwksKeyServer, originOption, urlOverride, type ProviderPreset, type ProviderType } from './ProviderPreset';

export const pomerium: ProviderType = {
  parse(options: ConfigNode): ProviderPreset {
    const route = originOption(options, 'route_host', 'the host of the Pomerium route in front of this service, e.g. app.example.com');
    const jwksUrl = urlOverride(options, 'jwks_url', () => new URL('/.well-known/pomerium/jwks.json', route));
    const issuer = options.string('issuer', route.host);
    return {
      tokenSources: [{ type: 'header', name: 'x-pomerium-jwt-assertion' }],
      keyServer: jwksKeyServer(jwksUrl, [issuer]),
      issuers: [issuer],
      audiences: options.stringList('audience').length ? options.stringList('audience') : [route.host],
      algorithms: ['ES256'],
      // X-Pomerium-Claim-<name> (jwt_claims_headers) is Pomerium's: stripped; claims_to_headers sets any the application needs.
      headers: { names: [], prefixes: ['x-pomerium-claim-'] },
      // Pomerium, "JWT verification": ES256 from the route's JWKS, iss and aud the route host,
      // exp and iat checked.
      requiredClaims: ['iss', 'aud', 'exp', 'iat'],
    };
  },
};
