// A real HTTP upstream for tests: answers 200 "ok" and remembers what it received.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The header fields as sent: name, value, name, value… */
  rawHeaders: string[];
  body: string;
}

export class TestUpstream {
  readonly received: ReceivedRequest[] = [];
  private readonly server: http.Server;
  private readonly upgraded = new Set<Duplex>();

  constructor(private readonly answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void = (_req, res) => res.end('ok')) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        this.received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
        this.answer(req, res, body);
      });
    });
    this.server.on('upgrade', (_req, socket: Duplex) => {
      this.upgraded.add(socket);
      socket.on('close', () => this.upgraded.delete(socket));
    });
  }

  get last(): ReceivedRequest {
    return this.received[this.received.length - 1];
  }

  get httpServer(): http.Server {
    return this.server;
  }

  /** Listens on a free loopback port, or on a unix socket path. */
  async listen(socketPath?: string): Promise<string> {
    if (socketPath) fs.rmSync(socketPath, { force: true });
    await new Promise<void>((resolve) => (socketPath ? this.server.listen(socketPath, resolve) : this.server.listen(0, '127.0.0.1', resolve)));
    return socketPath ? `unix:${socketPath}` : `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    for (const socket of this.upgraded) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Makes `server` keep only the first `count` header fields of each request, as Node.js 20 did
 * beyond maxHeadersCount (Node.js 22 and later answer 431 instead): an upstream that drops
 * header fields past a limit.
 */
export function keepFirstHeaderFields(server: http.Server, count: number): void {
  server.maxHeadersCount = 0;
  server.prependListener('request', (req: http.IncomingMessage) => {
    const headers: http.IncomingHttpHeaders = {};
    const raw = req.rawHeaders.slice(0, count * 2);
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      headers[name] = headers[name] === undefined ? raw[i + 1] : `${String(headers[name])}, ${raw[i + 1]}`;
    }
    Object.defineProperty(req, 'headers', { value: headers, configurable: true, writable: true });
  });
}
