// A complete HTTP/1.1 answer written straight to a socket, then closed: for CONNECT and
// Upgrade requests, which have no http.ServerResponse.
import type { Duplex } from 'node:stream';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function endWithResponse(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  const length = Buffer.byteLength(body);
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n${body}`);
}
