// AWS Application Load Balancer (OIDC): the token in `x-amzn-oidc-data`, ES256, its key a
// PEM per kid at https://public-keys.auth.elb.<region>.amazonaws.com/<kid>; no aud, but a
// `signer` JOSE header that must be this load balancer's ARN; segments padded with "=".
import type { ConfigNode } from '../config/ConfigNode';
import { urlOverride, claimHeader, type ProviderPreset, type ProviderType } from './ProviderPreset';

export const awsAlb: ProviderType = {
  parse(options: ConfigNode): ProviderPreset {
    const albArn = options.requiredString('alb_arn', "the load balancer's ARN, e.g. arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188");
    if (!albArn.startsWith('arn:aws')) options.fail('alb_arn', `${JSON.stringify(albArn)} is not an ARN (arn:aws:elasticloadbalancing:…)`);
    const keysUrl = urlOverride(options, 'keys_url', () => {
      const region = options.requiredString('region', 'the AWS region of the load balancer, e.g. eu-west-1 (or set keys_url)');
      if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) options.fail('region', `${JSON.stringify(region)} is not an AWS region, e.g. eu-west-1`);
      return new URL(`https://public-keys.auth.elb.${region}.amazonaws.com/`);
    });
    if (!options.has('region')) options.raw('region');
    const issuers = options.stringList('issuer');
    return {
      tokenSources: [{ type: 'header', name: 'x-amzn-oidc-data' }],
      keyServer: { type: 'pem_per_kid', baseUrl: keysUrl, issuers, cacheDurationMs: 24 * 3_600_000, notFoundCacheMs: 30_000 },
      issuers,
      audiences: [],
      noAudience: true,
      algorithms: ['ES256'],
      // Elastic Load Balancing, "User claims encoding and signature verification": ES256, the
      // signer header is the load balancer's ARN, and the token has an exp.
      requiredClaims: ['exp'],
      expectedSigner: albArn,
      paddedSegments: true,
      // The ALB sets x-amzn-oidc-identity (the sub) and x-amzn-oidc-accesstoken, which no token here vouches for.
      headers: {
        names: ['x-amzn-oidc-identity'],
        prefixes: [],
        fromTrustedProxyOnly: ['x-amzn-oidc-accesstoken'],
        fromClaims: (claims) => claimHeader('x-amzn-oidc-identity', claims.sub),
      },
    };
  },
};
