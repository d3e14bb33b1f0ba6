// Whether a request has a body, and what to do when answering without reading it: close the
// connection, since reading an unwanted body to keep the connection would let a slow client hold it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Call before answering: when the body has not all arrived, the answer says `Connection: close`,
 * and Node ends the socket once the answer is flushed instead of reading the rest of the body.
 */
export function closeIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete && hasBody(req) && !res.headersSent) res.setHeader('connection', 'close');
}
