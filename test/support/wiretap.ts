// A wiretap on the line to an HTTP server: each request is relayed as sent (Host included) and
// recorded with the status the server answered, for tests that check what a client put on the wire.
// cut() makes the server unreachable (open and new connections are dropped) while the tap keeps its
// port, as a network outage would; mend() restores the line.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseToken, type Claims, type JoseHeader } from '../../src/jwt/token';

export interface TappedRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The JWT of a Bearer Authorization header, decoded. */
  token?: { header: JoseHeader; claims: Claims };
  /** What the server answered. */
  status: number;
}

// Hop-by-hop headers: each side of the tap has its own connection.
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding'];

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const kept = { ...headers };
  for (const name of HOP_BY_HOP) delete kept[name];
  return kept;
}

function tokenOf(headers: http.IncomingHttpHeaders): TappedRequest['token'] {
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
  const token = bearer ? parseToken(bearer[1]) : undefined;
  return token ? { header: token.header, claims: token.claims } : undefined;
}

export class Wiretap {
  readonly requests: TappedRequest[] = [];
  private readonly server = http.createServer((request, response) => this.relay(request, response));
  private isCut = false;

  private constructor(private readonly target: URL) {
    this.server.on('connection', (socket) => {
      if (this.isCut) socket.destroy();
    });
  }

  /** A tap listening on a loopback port of its own, on the line to `target` (http://host:port). */
  static async start(target: URL): Promise<Wiretap> {
    const tap = new Wiretap(target);
    await new Promise<void>((resolve, reject) => {
      tap.server.once('error', reject);
      tap.server.listen(0, '127.0.0.1', () => resolve());
    });
    return tap;
  }

  /** Where clients reach the server through the tap, e.g. http://127.0.0.1:41234/ */
  get url(): URL {
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`);
  }

  cut(): void {
    this.isCut = true;
    this.server.closeAllConnections();
  }

  mend(): void {
    this.isCut = false;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private relay(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: TappedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: body.toString('utf8'),
        token: tokenOf(request.headers),
        status: 0,
      };
      this.requests.push(record);
      const onward = http.request(
        { host: this.target.hostname, port: this.target.port, method: record.method, path: record.url, headers: withoutHopByHop(request.headers), agent: false },
        (answer) => {
          record.status = answer.statusCode ?? 0;
          response.writeHead(record.status, withoutHopByHop(answer.headers));
          answer.pipe(response);
        },
      );
      onward.on('error', () => request.socket.destroy());
      onward.end(body);
    });
  }
}
