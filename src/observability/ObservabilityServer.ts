// Health and metrics for operators, on a listener of their own (not on the proxies, whose
// paths belong to the upstreams): GET /healthz (the process answers), GET /readyz (every
// part started and not stopping: 200, else 503), GET /metrics (Prometheus text). In
// multi-core mode the primary asks its ready workers for their metrics and sums them.
import type { Worker } from 'node:cluster';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AggregatorRegistry, collectDefaultMetrics, register } from 'prom-client';
import type { WorkerMetric } from '../cluster/messages';
import type { PrimaryChannel } from '../cluster/PrimaryChannel';
import type { WorkersChannel } from '../cluster/WorkersChannel';
import type { ListenerConfig } from '../config/types';
import { closeGracefully, createServer, listen, serverUrl } from '../proxy/listener';
import type { Logger } from './logger';

const DEFAULT_METRICS_PREFIX = 'jwtproxy_';
/** A worker that has not answered by then is left out of that scrape. */
const WORKER_ANSWER_TIMEOUT_MS = 1000;

/** In a cluster worker: answer the primary's requests for this process's metrics. Returns the function that stops it. */
export function answerMetricsRequests(primary: PrimaryChannel): () => void {
  collectDefaultMetrics({ prefix: DEFAULT_METRICS_PREFIX });
  return primary.on('metrics-request', (request) => {
    void register.getMetricsAsJSON().then((metrics) => {
      // The channel may be closing at shutdown: a lost answer is only a partial scrape.
      primary.send({ jwtproxy: 'metrics', id: request.id, metrics: metrics as WorkerMetric[] });
    });
  });
}

let nextRequestId = 1;

/** The sum of the workers' metrics; workers that do not answer in time are left out. */
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
  /** In multi-core mode, the channel to the workers and those serving now: the metrics are theirs. */
  workers?: { channel: WorkersChannel; serving: () => Worker[] };
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
    const { workers } = this.deps;
    return workers ? gatherWorkerMetrics(workers.channel, workers.serving()) : register.metrics();
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
