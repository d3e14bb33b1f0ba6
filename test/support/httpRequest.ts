// One HTTP(S) request with a fresh connection, the whole answer read: for assertions.
import * as http from 'node:http';
import * as https from 'node:https';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** For `unix:` servers. */
  socketPath?: string;
  /** Extra TLS options (ca, servername…) for https URLs. */
  tls?: https.RequestOptions;
  /** Sent as the request target instead of the URL's path (e.g. an absolute URI). */
  target?: string;
}

export function httpRequest(url: string, options: RequestOptions = {}): Promise<Answer> {
  const parsed = new URL(url.startsWith('unix:') ? 'http://localhost/' : url);
  const socketPath = url.startsWith('unix:') ? url.slice(5) : options.socketPath;
  const client = parsed.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      {
        ...options.tls,
        hostname: parsed.hostname,
        port: parsed.port,
        socketPath,
        path: options.target ?? parsed.pathname + parsed.search,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
