// The proxies' Prometheus metrics, in one registry per process, created where the process
// starts and handed to the proxies (in multi-core mode the primary sums the workers'). Label
// values are bounded: proxy names from the config, results and codes from fixed lists.
import { collectDefaultMetrics, Counter, Histogram, prometheusContentType, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

const PREFIX = 'jwtproxy_';

/** A metric as prom-client's getMetricsAsJSON gives it; the primary sums the workers'. */
export type WorkerMetric = MetricObjectWithValues<MetricValue<string>>;

export type VerifierResult = 'forwarded' | 'allowed' | 'client_left' | 'refused' | 'unavailable' | 'upstream_error' | 'error';
export type SignerResult = 'forwarded' | 'client_left' | 'refused' | 'no_key' | 'upstream_error' | 'error';

export interface ProxyMetricsOptions {
  /** Node's process metrics (CPU, memory, event loop, GC) beside the proxies'; they cost a little per scrape. */
  processMetrics?: boolean;
}

export class ProxyMetrics {
  static readonly contentType = prometheusContentType;
  private readonly registry = new Registry();
  private readonly verifierRequests = new Counter({
    name: `${PREFIX}verifier_requests_total`,
    help: 'Requests a verifier proxy answered, by result (forwarded, allowed in forward-auth mode, client_left, refused, unavailable, upstream_error, error), refusal code (missing_token, invalid_token, claims_refused, unavailable, bad_request) and reason code (exp, aud, signature, replayed, key_not_found…)',
    labelNames: ['proxy', 'result', 'code', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly signerRequests = new Counter({
    name: `${PREFIX}signer_requests_total`,
    help: 'Requests the signer proxy answered, by result (forwarded, client_left, refused, no_key, upstream_error, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly requestDuration = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time from a request to the end of its answer, by proxy',
    labelNames: ['proxy'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  private readonly identityLookups = new Counter({
    name: `${PREFIX}identity_lookups_total`,
    help: 'Expanded identities a verifier asked for, by result (cached, fetched, joined: answered by a fetch already under way for the same token, failed)',
    labelNames: ['proxy', 'result'] as const,
    registers: [this.registry],
  });
  private readonly externalEvaluations = new Counter({
    name: `${PREFIX}external_evaluations_total`,
    help: 'Requests the external evaluation endpoint answered, by result (allowed, denied, refused: a bad request or token, unavailable, keys: a /keys request)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(options: ProxyMetricsOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ prefix: PREFIX, register: this.registry });
  }

  /**
   * The labelled children in use, found once: prom-client hashes the label set on every inc and
   * observe otherwise. Their number is bounded (proxy names × fixed results and codes).
   */
  private readonly verifierChildren = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();

  /** A verifier answered; `code` and `reason` are '' unless it refused (or, reason `excluded`, did not check). */
  verifierAnswered(proxy: string, result: VerifierResult, code: string, reason: string, seconds: number): void {
    const key = `${proxy}\0${result}\0${code}\0${reason}`;
    let children = this.verifierChildren.get(key);
    if (!children) {
      children = { count: this.verifierRequests.labels({ proxy, result, code, reason }), duration: this.requestDuration.labels({ proxy }) };
      this.verifierChildren.set(key, children);
    }
    children.count.inc();
    children.duration.observe(seconds);
  }

  signerAnswered(result: SignerResult, seconds: number): void {
    this.signerRequests.inc({ result });
    this.requestDuration.observe({ proxy: 'signer_proxy' }, seconds);
  }

  identityLookedUp(proxy: string, result: 'cached' | 'fetched' | 'joined' | 'failed'): void {
    this.identityLookups.inc({ proxy, result });
  }

  externalEvaluationAnswered(result: 'allowed' | 'denied' | 'refused' | 'unavailable' | 'keys'): void {
    this.externalEvaluations.inc({ result });
  }

  /** The Prometheus text of this process's metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** This process's metrics for the primary to sum (multi-core mode). */
  async json(): Promise<WorkerMetric[]> {
    return (await this.registry.getMetricsAsJSON()) as WorkerMetric[];
  }
}
