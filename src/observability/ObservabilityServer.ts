// Health and metrics for operators, on a listener of their own (not on the proxies, whose
// paths belong to the upstreams): GET /healthz (the process answers), GET /readyz (every
// part started and not stopping: 200, else 503), GET /metrics (Prometheus text).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, register } from 'prom-client';
import type { ListenerConfig } from '../config/types';
import { closeGracefully, createServer, listen } from '../proxy/listener';
import type { Logger } from './logger';

const DEFAULT_METRICS_PREFIX = 'jwtproxy_';

/** In a cluster worker: answer the primary's requests for this process's metrics. */
export function answerMetricsRequests(): void {
  collectDefaultMetrics({ prefix: DEFAULT_METRICS_PREFIX });
  // prom-client installs the worker side of its aggregation when an AggregatorRegistry is made.
  new AggregatorRegistry();
}

export interface ObservabilityDeps {
  logger: Logger;
  /** Whether the proxies are serving. */
  ready: () => boolean;
  /** In multi-core mode the primary gathers its workers' metrics. */
  cluster: boolean;
}

export class ObservabilityServer {
  private readonly server;
  private readonly metrics: () => Promise<string>;

  constructor(
    private readonly config: Pick<ListenerConfig, 'listenAddr' | 'socketPermission'>,
    private readonly deps: ObservabilityDeps,
  ) {
    this.server = createServer(undefined, deps.logger, (req, res) => this.handle(req, res));
    const aggregator = deps.cluster ? new AggregatorRegistry() : undefined;
    this.metrics = aggregator ? () => aggregator.clusterMetrics() : () => register.metrics();
  }

  async start(): Promise<void> {
    // In multi-core mode the process metrics are the workers' (summed), where the work is.
    if (!this.deps.cluster) collectDefaultMetrics({ prefix: DEFAULT_METRICS_PREFIX });
    await listen(this.server, this.config);
    this.deps.logger.info({ listen: this.config.listenAddr }, 'health and metrics listening');
  }

  stop(): Promise<void> {
    return closeGracefully(this.server, 1000);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void text(405, 'method not allowed\n');
    if (path === '/healthz') return void text(200, 'ok\n');
    if (path === '/readyz') return void (this.deps.ready() ? text(200, 'ready\n') : text(503, 'not ready\n'));
    if (path !== '/metrics') return void text(404, 'not found: use /healthz, /readyz or /metrics\n');
    this.metrics().then(
      (body) => text(200, body, register.contentType),
      (error: Error) => {
        this.deps.logger.warn({ err: error }, 'metrics could not be gathered');
        text(503, `metrics unavailable: ${error.message}\n`);
      },
    );
  }
}
