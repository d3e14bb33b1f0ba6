// What a verifier decides with, built from its config and replaced whole on SIGHUP: the token
// rules and claims verifiers (CEL, Lua, authorizer), how requests are read (carriers, trusted
// proxies), the identity headers, excludes, refusals.
// The listener, upstreams, key server, nonce store and identity expander are the proxy's own and
// stay; a request reads one policy from start to end.
import { claimsVerifierServices, createClaimsVerifier } from '../claims/claimsVerifierTypes';
import type { ClaimsVerifier } from '../claims/ClaimsVerifier';
import { FORWARDED_CLIENT_CERT_HEADER } from './clientCertificatesConfig';
import type { Claims } from '../jwt/token';
import type { KeyServer } from '../keys/KeyServer';
import type { NonceStore } from '../nonce/NonceStore';
import type { CelExpression } from '../policy/CelExpression';
import type { Clock } from '../util/clock';
import { ServiceGroup } from '../util/ServiceGroup';
import { Authenticator } from './Authenticator';
import { wireValue } from '../claims/claimsToHeaders';
import type { ClientCertificateSource } from './ClientCertificateSource';
import type { IdentityExpander } from './IdentityExpander';
import { RequestReader } from './RequestView';
import { VerifiedTokenCache } from './VerifiedTokenCache';
import type { VerifierConfig } from './verifierConfig';

/** Method overrides (Rails, Express, ASP.NET) and path rewrites (IIS, Symfony, Zend) a client could send. */
const REWRITING_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url'];

export interface VerifierPolicy {
  readonly verifier: VerifierConfig;
  readonly authenticator: Authenticator;
  /** Headers a client may not send through: the proxy sets them itself. */
  readonly replacedHeaders: ReadonlySet<string>;
  readonly claimsHeader?: string;
  /** Reads each request into the one view every consumer judges. */
  readonly reader: RequestReader;
  /** The identity headers the provider in front sets, from the verified claims, as wire values; [] without a provider. */
  providerHeadersOf(claims: Claims): [string, string][];
  /**
   * Whether a rule or an identity header may look at the request (and so at its path): a CEL
   * expression that names `request`, a Lua script or an authorizer (they are given the request).
   */
  readonly readsRequest: boolean;
  /** The claims verifiers that load or release something (Lua, authorizers): started before use, stopped after. */
  readonly services: ServiceGroup;
}

/** What stays with the proxy across policies. */
export interface PolicyParts {
  keyServer: KeyServer;
  nonceStore?: NonceStore;
  identityExpander?: IdentityExpander;
  clientCertificates: ClientCertificateSource;
  clock: Clock;
}

const namesRequest = (expression: CelExpression): boolean => expression.mentions('request');

const NO_HEADERS: [string, string][] = [];

/**
 * The provider headers of a token, computed once per verified token: a reused token's claims are
 * the same object on every cache hit. A value no header may carry throws every time (not kept).
 */
function providerHeaderCache(fromClaims: ((claims: Claims) => [string, string][]) | undefined): (claims: Claims) => [string, string][] {
  if (!fromClaims) return () => NO_HEADERS;
  const known = new WeakMap<Claims, [string, string][]>();
  return (claims) => {
    let headers = known.get(claims);
    if (!headers) {
      headers = fromClaims(claims).map(([name, value]): [string, string] => [name, wireValue(name, value)]);
      known.set(claims, headers);
    }
    return headers;
  };
}

export function buildVerifierPolicy(verifier: VerifierConfig, parts: PolicyParts): VerifierPolicy {
  const claimsVerifiers: ClaimsVerifier[] = verifier.claimsVerifiers.map((claimsVerifier) => createClaimsVerifier(claimsVerifier, { clock: parts.clock }));
  const authenticator = new Authenticator({
    rules: verifier.rules,
    keyServer: parts.keyServer,
    nonceStore: parts.nonceStore,
    claimsVerifiers,
    clock: parts.clock,
    // A token verified under other rules is not verified under these: each policy has its own cache.
    tokenCache: verifier.tokenCacheEntries > 0 ? new VerifiedTokenCache(verifier.tokenCacheEntries) : undefined,
    identityExpander: parts.identityExpander,
  });
  // Authorization and Host are sent once, as checked: a duplicate could carry a forged identity.
  // Certificate headers from a client are never believed upstream, whatever this verifier sets.
  // Headers that make an application act on another method or path than the one judged are never passed.
  const replacedHeaders = new Set(['authorization', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', FORWARDED_CLIENT_CERT_HEADER, ...REWRITING_HEADERS]);
  if (verifier.clientCertificates.trustedHeader) replacedHeaders.add(verifier.clientCertificates.trustedHeader.name);
  if (verifier.claimsHeader) replacedHeaders.add(verifier.claimsHeader);
  // A client may never send an identity header of its own: every mapped name is stripped.
  for (const { header } of verifier.claimsToHeaders) replacedHeaders.add(header);
  for (const claimsVerifier of claimsVerifiers) for (const header of claimsVerifier.upstreamHeaders ?? []) replacedHeaders.add(header);
  // The provider's own identity headers: a client's copies never pass; the token's are set again.
  const provider = verifier.providerHeaders;
  for (const header of provider?.names ?? []) replacedHeaders.add(header);
  const readsRequest =
    verifier.claimsVerifiers.some((rule) => rule.type === 'lua' || rule.type === 'http' || (rule.type === 'cel' && namesRequest(rule.expression))) ||
    verifier.claimsToHeaders.some(({ expression }) => namesRequest(expression));
  return {
    verifier,
    authenticator,
    replacedHeaders,
    claimsHeader: verifier.claimsHeader,
    reader: new RequestReader(verifier, parts.clientCertificates, replacedHeaders, provider),
    providerHeadersOf: providerHeaderCache(provider?.fromClaims),
    readsRequest,
    services: new ServiceGroup(claimsVerifierServices(claimsVerifiers)),
  };
}
