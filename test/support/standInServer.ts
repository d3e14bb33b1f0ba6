// A real HTTP server on loopback standing in for a provider's endpoints (a certs document,
// a JWKS, a discovery document, PEM keys): it answers what the test says per path, logs
// every request, and can be taken down (connections cut) and brought back on the same port.
import * as http from 'node:http';
import { closeServer, listenOnLoopback, loopbackUrl } from './loopbackServer';

export interface StandInAnswer {
  status?: number;
  headers?: http.OutgoingHttpHeaders;
  /** An object is sent as JSON. */
  body: unknown;
}

export class StandInServer {
  /** The path (with query) of every request received, in order, while up or down. */
  readonly requests: string[] = [];
  /** While false, every request has its connection cut without an answer: the provider is unreachable. */
  up = true;
  private readonly answers = new Map<string, StandInAnswer>();
  private readonly server: http.Server;

  constructor() {
    this.server = http.createServer((req, res) => {
      this.requests.push(req.url!);
      if (!this.up) return void req.socket.destroy();
      const answer = this.answers.get(req.url!.split('?')[0]);
      if (!answer) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      const json = typeof answer.body !== 'string';
      const body = json ? JSON.stringify(answer.body) : (answer.body as string);
      res.writeHead(answer.status ?? 200, { 'content-type': json ? 'application/json' : 'text/plain', ...answer.headers }).end(body);
    });
  }

  /** Answers GET `path` with `answer` from now on. */
  serve(path: string, answer: StandInAnswer): this {
    this.answers.set(path, answer);
    return this;
  }

  /** How many requests asked for `path`. */
  count(path: string): number {
    return this.requests.filter((url) => url.split('?')[0] === path).length;
  }

  /** Listens on a free loopback port (port 0, read back); resolves with the base URL, without a trailing slash. */
  listen(): Promise<string> {
    return listenOnLoopback(this.server);
  }

  get url(): string {
    return loopbackUrl(this.server);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
