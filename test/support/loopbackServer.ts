// The life of a test's HTTP server on loopback: listen on port 0 and read the port back,
// and close with its keep-alive connections.
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export function loopbackUrl(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Resolves with the base URL, without a trailing slash. */
export async function listenOnLoopback(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return loopbackUrl(server);
}

export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
