// A loopback port nothing listens on, for the tests whose point is a refused connection: an upstream,
// a key registry or Redis that is down, a port a failed start must leave closed. Found by binding
// port 0 and releasing the port, so another process could take it before the test connects: a small
// race, accepted only where the closed port is the point. Servers under test bind port 0 themselves
// and report the port they got.
import * as net from 'node:net';

export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
