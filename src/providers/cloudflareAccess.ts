// Cloudflare Access: the token in `Cf-Access-Jwt-Assertion` (browsers: cookie
// CF_Authorization), RS256 keys at <team>/cdn-cgi/access/certs, iss the team domain, aud
// the application's AUD tags, no jti (reused until exp, up to the session length). The
// expanded identity is at <team>/cdn-cgi/access/get-identity, asked with the token as cookie.
import type { ConfigNode } from '../config/ConfigNode';
import { jwksKeyServer, originOption, urlOverride, claimHeader, type ProviderPreset, type ProviderType } from './ProviderPreset';

export const cloudflareAccess: ProviderType = {
  parse(options: ConfigNode): ProviderPreset {
    const team = originOption(options, 'team_domain', 'your Access team domain, e.g. myteam.cloudflareaccess.com');
    const certsUrl = urlOverride(options, 'certs_url', () => new URL('/cdn-cgi/access/certs', team));
    const issuer = options.string('issuer', team.origin);
    return {
      tokenSources: [
        { type: 'header', name: 'cf-access-jwt-assertion' },
        { type: 'cookie', name: 'CF_Authorization' },
      ],
      keyServer: jwksKeyServer(certsUrl, [issuer]),
      issuers: [issuer],
      audiences: options.stringList('audience_tag'),
      algorithms: ['RS256'],
      // Cloudflare One, "Validate JWTs": RS256, iss the team domain, aud the application's AUD
      // tag, and exp/iat/nbf present in every Access token (users and service tokens alike).
      requiredClaims: ['iss', 'aud', 'exp', 'iat'],
      identity: { url: new URL('/cdn-cgi/access/get-identity', team), sendToken: 'cookie' },
      // Cloudflare sets Cf-Access-Authenticated-User-Email (users, not service tokens) next to the token.
      headers: {
        names: ['cf-access-authenticated-user-email'],
        prefixes: ['cf-access-authenticated-user-'],
        fromClaims: (claims) => claimHeader('cf-access-authenticated-user-email', claims.email),
      },
    };
  },
};
