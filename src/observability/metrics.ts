// Prometheus metrics of the proxies, in prom-client's global registry (which also
// aggregates the workers' metrics in multi-core mode). Label values are bounded: proxy
// names from the config, results and reasons from fixed lists.
import { Counter, Histogram } from 'prom-client';

export const verifierRequests = new Counter({
  name: 'jwtproxy_verifier_requests_total',
  help: 'Requests a verifier proxy answered, by result (forwarded, allowed in forward-auth mode, client_left, refused, unavailable, upstream_error, error) and refusal reason',
  labelNames: ['proxy', 'result', 'reason'] as const,
});

export const signerRequests = new Counter({
  name: 'jwtproxy_signer_requests_total',
  help: 'Requests the signer proxy answered, by result (forwarded, client_left, refused, no_key, upstream_error, error)',
  labelNames: ['result'] as const,
});

export const requestDuration = new Histogram({
  name: 'jwtproxy_request_duration_seconds',
  help: 'Time from a request to the end of its answer, by proxy',
  labelNames: ['proxy'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});

export const identityLookups = new Counter({
  name: 'jwtproxy_identity_lookups_total',
  help: 'Expanded identities a verifier asked for, by result (cached, fetched, joined: answered by a fetch already under way for the same token, failed)',
  labelNames: ['proxy', 'result'] as const,
});

export const externalEvaluations = new Counter({
  name: 'jwtproxy_external_evaluations_total',
  help: 'Requests the external evaluation endpoint answered, by result (allowed, denied, refused: a bad request or token, unavailable, keys: a /keys request)',
  labelNames: ['result'] as const,
});
