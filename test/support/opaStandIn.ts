// A stand-in for Open Policy Agent's REST API on loopback, as its data API answers: `POST
// /v1/data/<path>` with `{"input": …}` evaluates the policy the test gives for that path and
// answers `{"result": …}`, or `{}` when the policy has no value for the input (OPA's undefined
// decision); a body that is not JSON gets OPA's 400. It records every input and how many
// questions were in flight at once, can be slowed down, and can be taken down.
import * as http from 'node:http';
import { closeServer, listenOnLoopback, loopbackUrl } from './loopbackServer';

/** A policy: the decision for an input, or undefined for none. */
export type OpaPolicy = (input: unknown) => unknown;

export interface OpaQuestion {
  path: string;
  input: unknown;
  /** The request's own headers, as the authorizer received them. */
  headers: http.IncomingHttpHeaders;
}

export class OpaStandIn {
  readonly questions: OpaQuestion[] = [];
  /** While false, every connection is cut without an answer. */
  up = true;
  /** How long each answer takes. */
  delayMs = 0;
  /** While true, answers wait for `release()`. */
  holding = false;
  /** When set, sent instead of the decision (a broken authorizer). */
  rawAnswer?: { status: number; body: string };
  inFlight = 0;
  mostInFlight = 0;
  /** Answers still delayed from before a reset do not count. */
  private generation = 0;
  private readonly policies = new Map<string, OpaPolicy>();
  private readonly held: (() => void)[] = [];
  private readonly arrivals: (() => void)[] = [];
  private readonly server: http.Server;

  constructor() {
    this.server = http.createServer((req, res) => {
      if (!this.up) return void req.socket.destroy();
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const { generation } = this;
        this.inFlight++;
        this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
        for (const arrived of this.arrivals.splice(0)) arrived();
        const answer = () => {
          if (generation === this.generation) this.inFlight--;
          this.answer(req, res, Buffer.concat(chunks).toString());
        };
        if (this.holding) this.held.push(answer);
        else setTimeout(answer, this.delayMs);
      });
    });
  }

  /** Decides `POST /v1/data/<path>` with `policy` from now on. */
  policy(path: string, policy: OpaPolicy): this {
    this.policies.set(`/v1/data/${path}`, policy);
    return this;
  }

  /** Answers every question held so far; later ones are held too while `holding` stays true. */
  release(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  /** Resolves once `count` questions are in flight. */
  async untilInFlight(count: number): Promise<void> {
    while (this.inFlight < count) await new Promise<void>((arrived) => this.arrivals.push(arrived));
  }

  /** The questions asked of `path`. */
  asked(path: string): OpaQuestion[] {
    return this.questions.filter((question) => question.path === `/v1/data/${path}`);
  }

  reset(): void {
    this.questions.length = 0;
    this.up = true;
    this.delayMs = 0;
    this.holding = false;
    this.release();
    this.rawAnswer = undefined;
    this.inFlight = 0;
    this.mostInFlight = 0;
    this.generation++;
    this.policies.clear();
  }

  listen(): Promise<string> {
    return listenOnLoopback(this.server);
  }

  get url(): string {
    return loopbackUrl(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const json = (status: number, value: unknown) => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (req.method !== 'POST') return json(405, { code: 'method_not_allowed', message: 'method not allowed' });
    let document: { input?: unknown };
    try {
      document = body === '' ? {} : (JSON.parse(body) as { input?: unknown });
    } catch (error) {
      return json(400, { code: 'invalid_parameter', message: `body contains malformed input document: ${(error as Error).message}` });
    }
    const path = req.url!.split('?')[0];
    this.questions.push({ path, input: document.input, headers: req.headers });
    if (this.rawAnswer) return void res.writeHead(this.rawAnswer.status, { 'content-type': 'application/json' }).end(this.rawAnswer.body);
    const policy = this.policies.get(path);
    const result = policy?.(document.input);
    json(200, result === undefined ? {} : { result });
  }
}
