// Google Cloud IAP: the token in `x-goog-iap-jwt-assertion`, ES256 keys from Google's
// JWKS, iss https://cloud.google.com/iap, aud /projects/<number>/global/backendServices/<id>
// or /projects/<number>/apps/<project>; about ten minutes long, no jti.
import type { ConfigNode } from '../config/ConfigNode';
import { jwksKeyServer, urlOverride, claimHeader, type ProviderPreset, type ProviderType } from './ProviderPreset';

const GOOGLE_IAP_JWKS = 'https://www.gstatic.com/iap/verify/public_key-jwk';
const GOOGLE_IAP_ISSUER = 'https://cloud.google.com/iap';

export const googleIap: ProviderType = {
  parse(options: ConfigNode): ProviderPreset {
    const jwksUrl = urlOverride(options, 'jwks_url', () => new URL(GOOGLE_IAP_JWKS));
    const issuer = options.string('issuer', GOOGLE_IAP_ISSUER);
    const audiences = options.stringList('audience');
    audiences.forEach((audience, index) => {
      if (!audience.startsWith('/projects/')) {
        options.fail(
          audiences.length > 1 ? `audience[${index}]` : 'audience',
          `${JSON.stringify(audience)} is not an IAP audience: /projects/<number>/global/backendServices/<id> or /projects/<number>/apps/<project>`,
        );
      }
    });
    return {
      tokenSources: [{ type: 'header', name: 'x-goog-iap-jwt-assertion' }],
      keyServer: jwksKeyServer(jwksUrl, [issuer]),
      issuers: [issuer],
      audiences,
      algorithms: ['ES256'],
      // IAP sets X-Goog-Authenticated-User-Email and -Id, "accounts.google.com:" before each (its JWT's sub carries it already).
      headers: {
        names: ['x-goog-authenticated-user-email', 'x-goog-authenticated-user-id'],
        prefixes: ['x-goog-authenticated-user-'],
        fromClaims: (claims) => [
          ...claimHeader('x-goog-authenticated-user-email', claims.email, 'accounts.google.com:'),
          // IAP's sub is namespaced already ("accounts.google.com:1234…"); one that is not gets the header's namespace.
          ...claimHeader('x-goog-authenticated-user-id', claims.sub, typeof claims.sub === 'string' && !claims.sub.includes(':') ? 'accounts.google.com:' : ''),
        ],
      },
      // Google Cloud IAP, "Securing your app with signed headers": ES256, exp in the future,
      // iat in the past, aud and iss as configured, and sub and email present.
      requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'email'],
    };
  },
};
