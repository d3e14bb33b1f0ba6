// Health and metrics for operators, on a listener of their own (not on the proxies, whose
// paths belong to the upstreams): GET /healthz (the process answers), GET /readyz (every
// part started and not stopping: 200, else 503), GET /metrics (Prometheus text). In
// multi-core mode the primary asks its ready workers for their metrics and sums them (the process
// metrics too: the work is done in the workers).
import type { Worker } from 'node:cluster';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { WorkersChannel } from '../cluster/WorkersChannel';
import { Listener } from '../proxy/listener';
import type { Logger } from './logger';
import { ProxyMetrics, type WorkerMetric } from './metrics';
import type { ListenerConfig } from '../proxy/listenerConfig';

/** A worker that has not answered by then is left out of that scrape. */
const WORKER_ANSWER_TIMEOUT_MS = 1000;

/** Where the text of /metrics comes from. */
export interface MetricsSource {
  text(): Promise<string>;
}

/** In a cluster worker: answer the primary's requests for this process's metrics. Returns the function that stops it. */
export function answerMetricsRequests(primary: PrimaryChannel, metrics: ProxyMetrics): () => void {
  return primary.on('metrics-request', (request) => {
    void metrics.json().then((json) => {
      // The channel may be closing at shutdown: a lost answer is only a partial scrape.
      primary.send({ jwtproxy: 'metrics', id: request.id, metrics: json });
    });
  });
}

let nextRequestId = 1;

/** In multi-core mode: the sum of the serving workers' metrics; workers that do not answer in time are left out. */
export function workerMetrics(channel: WorkersChannel, serving: () => Worker[]): MetricsSource {
  return { text: () => gatherWorkerMetrics(channel, serving()) };
}

async function gatherWorkerMetrics(channel: WorkersChannel, workers: Worker[]): Promise<string> {
  const id = nextRequestId++;
  const answers = await Promise.all(
    workers.map(
      (worker) =>
        new Promise<WorkerMetric[] | undefined>((resolve) => {
          const done = (metrics?: WorkerMetric[]) => {
            clearTimeout(timer);
            stopListening();
            resolve(metrics);
          };
          const stopListening = channel.on('metrics', (answer, from) => {
            if (from === worker && answer.id === id) done(answer.metrics);
          });
          const timer = setTimeout(done, WORKER_ANSWER_TIMEOUT_MS);
          channel.send(worker, { jwtproxy: 'metrics-request', id }, () => done());
        }),
    ),
  );
  return AggregatorRegistry.aggregate(answers.filter((metrics): metrics is WorkerMetric[] => metrics !== undefined)).metrics();
}

export interface ObservabilityDeps {
  logger: Logger;
  /** Whether the proxies are serving. */
  ready: () => boolean;
  /** This process's ProxyMetrics, or in multi-core mode the workers' (workerMetrics). */
  metrics: MetricsSource;
}

export class ObservabilityServer {
  private readonly listener: Listener;

  constructor(
    private readonly config: Pick<ListenerConfig, 'listenAddr' | 'socketPermission'>,
    private readonly deps: ObservabilityDeps,
  ) {
    // A scrape in flight at shutdown gets a second; health has no TLS and default limits.
    this.listener = new Listener({ listenAddr: config.listenAddr, socketPermission: config.socketPermission, shutdownTimeoutMs: 1000 }, deps.logger, (req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    await this.listener.start();
    this.deps.logger.info({ listen: this.config.listenAddr, address: this.listener.url }, 'health and metrics listening');
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return void text(405, 'method not allowed\n');
    if (path === '/healthz') return void text(200, 'ok\n');
    if (path === '/readyz') return void (this.deps.ready() ? text(200, 'ready\n') : text(503, 'not ready\n'));
    if (path !== '/metrics') return void text(404, 'not found: use /healthz, /readyz or /metrics\n');
    this.deps.metrics.text().then(
      (body) => text(200, body, ProxyMetrics.contentType),
      (error: Error) => {
        this.deps.logger.warn({ err: error }, 'metrics could not be gathered');
        text(503, `metrics unavailable: ${error.message}\n`);
      },
    );
  }
}
