// Sends one request to an upstream through an undici dispatcher and streams the
// answer back: bodies flow both ways with backpressure, nothing is buffered whole.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { JwtproxyError } from '../util/JwtproxyError';
import { forwardableResponseHeaders } from './headers';
import { hasBody } from './requestBody';

export interface OutgoingRequest {
  /** scheme://host[:port] of the upstream. */
  origin: string;
  /** Path and query as sent upstream. */
  path: string;
  headers: string[];
}

const CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';
const RESPONSE_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT';

/** A failure to get any response from the upstream (connect refused, reset, timeout). */
export class UpstreamError extends JwtproxyError {
  readonly code = 'ERR_UPSTREAM';
  /** The upstream did not connect, or did not answer, in time. */
  readonly timedOut: boolean;
  constructor(
    readonly cause: Error,
    /** True when nothing of the request body was consumed, so another upstream may be tried. */
    readonly retryable: boolean,
  ) {
    super(cause.message);
    const code = (cause as NodeJS.ErrnoException).code;
    this.timedOut = code === CONNECT_TIMEOUT || code === RESPONSE_TIMEOUT;
  }
}

/**
 * A request that timed out waiting for its answer has reached the upstream: sending it to another
 * could run it twice, and would add a whole timeout to the wait.
 */
function retryable(error: Error, body: unknown): boolean {
  return body === null && (error as NodeJS.ErrnoException).code !== RESPONSE_TIMEOUT;
}

/** How a forwarded exchange ended when it did not fail: relayed whole, or cut short by the client. */
export type ForwardOutcome = 'answered' | 'client_left';

/**
 * Forwards `req` and pipes the response into `res`. Resolves when the response is
 * complete (or the client left); rejects with UpstreamError when no response head came
 * back (nothing was written to `res` then, so the caller may answer 502 or try another upstream).
 */
export function forwardRequest(dispatcher: Dispatcher, outgoing: OutgoingRequest, req: IncomingMessage, res: ServerResponse): Promise<ForwardOutcome> {
  const body = hasBody(req) ? req : null;
  return new Promise((resolve, reject) => {
    let started = false;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        // A client that goes away (maybe already, while its token was checked) cancels the upstream request.
        if (res.destroyed) return controller.abort(new Error('client closed the connection'));
        res.once('close', () => {
          if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
        });
      },
      onResponseStart(controller, statusCode, headers, statusMessage) {
        if (statusCode < 200) return; // 1xx interim responses are not relayed
        started = true;
        res.writeHead(statusCode, statusMessage, forwardableResponseHeaders(headers));
        res.on('drain', () => controller.resume());
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) controller.pause();
      },
      onResponseEnd() {
        res.end();
        resolve('answered');
      },
      onResponseError(_controller, error) {
        if (res.destroyed) {
          // The client left and we aborted: that says nothing about the upstream.
          resolve('client_left');
        } else if (started) {
          // Mid-body failure: the status is already sent, so cut the connection.
          res.destroy();
          resolve('answered');
        } else {
          reject(new UpstreamError(error, retryable(error, body)));
        }
      },
    };
    dispatcher.dispatch({ origin: outgoing.origin, path: outgoing.path, method: req.method ?? 'GET', headers: outgoing.headers, body }, handler);
  });
}

/** A response head written straight to a socket (upgrades bypass http.ServerResponse). */
function responseHead(statusLine: string, headers: IncomingHttpHeaders): string {
  const lines = [statusLine];
  for (const [name, value] of Object.entries(headers)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) lines.push(`${name}: ${item}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Forwards an Upgrade request (WebSocket) and, once the upstream switches protocols,
 * splices the two sockets. Rejects with UpstreamError when the upstream refuses.
 */
export function forwardUpgrade(dispatcher: Dispatcher, outgoing: OutgoingRequest, req: IncomingMessage, clientSocket: Duplex, head: Buffer): Promise<void> {
  const protocol = String(req.headers.upgrade ?? 'websocket');
  return new Promise((resolve, reject) => {
    let started = false;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (clientSocket.destroyed) return controller.abort(new Error('client closed the connection'));
        clientSocket.once('close', () => controller.abort(new Error('client closed the connection')));
      },
      onRequestUpgrade(_controller, statusCode, headers, upstreamSocket) {
        if (clientSocket.destroyed) {
          upstreamSocket.destroy();
          return resolve();
        }
        clientSocket.write(responseHead(`HTTP/1.1 ${statusCode} Switching Protocols`, headers));
        if (head.length > 0) upstreamSocket.write(head);
        // A tunnel lives and dies whole: when one side goes, so does the other.
        upstreamSocket.on('close', () => clientSocket.destroy());
        clientSocket.on('close', () => upstreamSocket.destroy());
        upstreamSocket.on('error', () => clientSocket.destroy());
        clientSocket.on('error', () => upstreamSocket.destroy());
        upstreamSocket.pipe(clientSocket).pipe(upstreamSocket);
        resolve();
      },
      onResponseStart(controller, statusCode, headers, statusMessage) {
        // The upstream declined the upgrade: relay its answer and close.
        started = true;
        const relayed = { ...forwardableResponseHeaders(headers), connection: 'close' };
        clientSocket.write(responseHead(`HTTP/1.1 ${statusCode} ${statusMessage ?? ''}`, relayed));
        controller.resume();
      },
      onResponseData(_controller, chunk) {
        clientSocket.write(chunk);
      },
      onResponseEnd() {
        clientSocket.end();
        resolve();
      },
      onResponseError(_controller, error) {
        if (started || clientSocket.destroyed) {
          clientSocket.destroy();
          resolve();
        } else {
          reject(new UpstreamError(error, retryable(error, null)));
        }
      },
    };
    dispatcher.dispatch({ origin: outgoing.origin, path: outgoing.path, method: req.method ?? 'GET', headers: outgoing.headers, upgrade: protocol }, handler);
  });
}
