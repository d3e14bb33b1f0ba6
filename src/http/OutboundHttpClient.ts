// Requests to the services the proxy depends on (key servers, the key registry, an authorizer, an
// identity endpoint). Each is bounded in time (connecting, the head and the whole body under one
// deadline) and in size (the body is counted as it streams and cut off once past the bound, never
// buffered beyond it); redirects are refused, not followed; errors name the URL without its
// credentials. Connections are kept alive and reused until close().
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import { loggableUrl } from '../observability/loggableUrl';
import { OutboundHttpError, type OutboundHttpErrorCode } from './OutboundHttpError';

export interface OutboundHttpClientOptions {
  /** Deadline of one request: connecting, the answer's head and its whole body. */
  timeoutMs: number;
  /** Length of a response body past which the answer is refused (ERR_OUTBOUND_TOO_LARGE). */
  maxBodyBytes: number;
  /** Connections kept per origin; further concurrent requests queue. Default: no limit. */
  connections?: number;
  /** How long an idle connection is kept for the next request. Default: undici's (4 s). */
  keepAliveTimeoutMs?: number;
}

export interface OutboundRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** The caller's cancellation: the request ends with ERR_OUTBOUND_ABORTED. */
  signal?: AbortSignal;
  /** A deadline the caller started earlier (before waiting for a free slot); default: timeoutMs from now. */
  deadline?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The whole body, as UTF-8. */
  body: string;
}

/** Statuses that send the client elsewhere; 300 and 304 are answers in their own right. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class OutboundHttpClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;

  constructor(options: OutboundHttpClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.maxBodyBytes = options.maxBodyBytes;
    this.agent = new Agent({
      connectTimeout: options.timeoutMs,
      ...(options.connections !== undefined && { connections: options.connections }),
      ...(options.keepAliveTimeoutMs !== undefined && { keepAliveTimeout: options.keepAliveTimeoutMs }),
    });
  }

  /** The answer with its whole body; rejects with OutboundHttpError. */
  async request(url: URL, request: OutboundRequest = {}): Promise<OutboundResponse> {
    const method = request.method ?? 'GET';
    const deadline = request.deadline ?? AbortSignal.timeout(this.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
    let status: number | undefined;
    try {
      const response = await this.agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method, headers: withUserInfo(url, request.headers), body: request.body, signal });
      status = response.statusCode;
      if (REDIRECTS.has(status)) {
        abandon(response.body);
        throw this.error('ERR_OUTBOUND_REDIRECT', method, url, redirectReason(status, response.headers.location, url), status);
      }
      const body = await readBounded(response, this.maxBodyBytes);
      if (body === undefined) throw this.error('ERR_OUTBOUND_TOO_LARGE', method, url, `answered more than ${this.maxBodyBytes} bytes`, status);
      return { status, headers: response.headers, body };
    } catch (error) {
      if (error instanceof OutboundHttpError) throw error;
      if (request.signal?.aborted) throw this.error('ERR_OUTBOUND_ABORTED', method, url, 'cancelled', status, error);
      if (deadline.aborted || (error as { code?: unknown }).code === 'UND_ERR_CONNECT_TIMEOUT') {
        throw this.error('ERR_OUTBOUND_TIMEOUT', method, url, `no answer within ${this.timeoutMs} ms`, status, error);
      }
      throw this.error('ERR_OUTBOUND_CONNECTION', method, url, describe(error), status, error);
    }
  }

  /** Closes the kept-alive connections, once the requests under way have ended. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private error(code: OutboundHttpErrorCode, method: string, url: URL, reason: string, status: number | undefined, cause?: unknown): OutboundHttpError {
    return new OutboundHttpError(code, `${method} ${loggableUrl(url)}`, reason, status, cause === undefined ? undefined : { cause });
  }
}

/**
 * A user and password in the URL go as Basic credentials (RFC 7617) unless the request carries its
 * own Authorization, as Go's and curl's clients send them: a Go config's registry URL keeps working.
 */
function withUserInfo(url: URL, headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!url.username && !url.password) return headers;
  if (headers && Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return headers;
  const credentials = `${percentDecoded(url.username)}:${percentDecoded(url.password)}`;
  return { ...headers, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** A URL part percent-decoded, or as written when it holds a "%" that starts no escape. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The body as UTF-8, or undefined once it is longer than `limit`: then reading stops and the
 * connection is closed, so a server cannot make the client hold more than `limit` bytes.
 */
function readBounded({ headers, body }: Dispatcher.ResponseData, limit: number): Promise<string | undefined> {
  if (Number(headers['content-length'] ?? 0) > limit) {
    abandon(body);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      body.destroy();
      resolve(undefined);
    });
    body.once('end', () => resolve(Buffer.concat(chunks, size).toString('utf8')));
    body.once('error', reject);
  });
}

/** Stops reading and closes the connection; the abort error this raises on the body is our own doing. */
function abandon(body: Dispatcher.ResponseData['body']): void {
  body.once('error', () => undefined);
  body.destroy();
}

function redirectReason(status: number, location: string | string[] | undefined, base: URL): string {
  const target = typeof location === 'string' && URL.canParse(location, base.href) ? `to ${loggableUrl(new URL(location, base))}` : 'without a usable Location';
  return `answered ${status}, a redirect ${target}, which is not followed`;
}

/** An error's code and message; the first address's error of a connection attempt to several. */
function describe(error: unknown): string {
  // Duck-typed: AbortSignal's DOMException and undici's errors may come from another realm.
  const { code, message, errors } = (error ?? {}) as { code?: unknown; message?: unknown; errors?: unknown };
  if (Array.isArray(errors) && errors.length > 0) return describe(errors[0]);
  const text = typeof message === 'string' && message !== '' ? message : String(error);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}
