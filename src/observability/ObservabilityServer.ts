// Health and metrics for operators, on a listener of their own (not on the proxies, whose
// paths belong to the upstreams): GET /healthz (the process answers), GET /readyz (every
// part started and not stopping: 200, else 503), GET /metrics (Prometheus text). In
// multi-core mode the primary asks its ready workers for their metrics and sums them.
import type { Worker } from 'node:cluster';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, register, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ListenerConfig } from '../config/types';
import { closeGracefully, createServer, listen, serverUrl } from '../proxy/listener';
import type { Logger } from './logger';

const DEFAULT_METRICS_PREFIX = 'jwtproxy_';
/** A worker that has not answered by then is left out of that scrape. */
const WORKER_ANSWER_TIMEOUT_MS = 1000;

type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];
type MetricsMessage = { jwtproxy: 'metrics-request'; id: number } | { jwtproxy: 'metrics'; id: number; metrics: WorkerMetrics };

/** In a cluster worker: answer the primary's requests for this process's metrics. */
export function answerMetricsRequests(): void {
  collectDefaultMetrics({ prefix: DEFAULT_METRICS_PREFIX });
  process.on('message', (message: MetricsMessage) => {
    if (message?.jwtproxy !== 'metrics-request') return;
    void register.getMetricsAsJSON().then((metrics) => {
      const answer: MetricsMessage = { jwtproxy: 'metrics', id: message.id, metrics: metrics as WorkerMetrics };
      // The channel may be closing at shutdown: a lost answer is only a partial scrape.
      process.send?.(answer, undefined, undefined, () => undefined);
    });
  });
}

let nextRequestId = 1;

/** The sum of the workers' metrics; workers that do not answer in time are left out. */
async function gatherWorkerMetrics(workers: Worker[]): Promise<string> {
  const id = nextRequestId++;
  const answers = await Promise.all(
    workers.map(
      (worker) =>
        new Promise<WorkerMetrics | undefined>((resolve) => {
          const done = (metrics?: WorkerMetrics) => {
            clearTimeout(timer);
            worker.off('message', onMessage);
            resolve(metrics);
          };
          const onMessage = (message: MetricsMessage) => {
            if (message?.jwtproxy === 'metrics' && message.id === id) done(message.metrics);
          };
          const timer = setTimeout(done, WORKER_ANSWER_TIMEOUT_MS);
          worker.on('message', onMessage);
          const request: MetricsMessage = { jwtproxy: 'metrics-request', id };
          worker.send(request, undefined, (error) => error && done());
        }),
    ),
  );
  return AggregatorRegistry.aggregate(answers.filter((metrics): metrics is WorkerMetrics => metrics !== undefined)).metrics();
}

export interface ObservabilityDeps {
  logger: Logger;
  /** Whether the proxies are serving. */
  ready: () => boolean;
  /** In multi-core mode, the workers serving now: the metrics are theirs. */
  workers?: () => Worker[];
}

export class ObservabilityServer {
  private readonly server: Server;

  constructor(
    private readonly config: Pick<ListenerConfig, 'listenAddr' | 'socketPermission'>,
    private readonly deps: ObservabilityDeps,
  ) {
    this.server = createServer(undefined, deps.logger, (req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    // In multi-core mode the process metrics are the workers' (summed), where the work is.
    if (!this.deps.workers) collectDefaultMetrics({ prefix: DEFAULT_METRICS_PREFIX });
    await listen(this.server, this.config);
    this.deps.logger.info({ listen: this.config.listenAddr, address: serverUrl(this.server) }, 'health and metrics listening');
  }

  stop(): Promise<void> {
    return closeGracefully(this.server, 1000);
  }

  private metrics(): Promise<string> {
    return this.deps.workers ? gatherWorkerMetrics(this.deps.workers()) : register.metrics();
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
