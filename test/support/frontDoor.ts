// The address of a server that has to be named before the server starts: a verifier's audience, or
// the key registry URL that the signer and the verifier of one config both use. The test holds a
// loopback port from the start (bound on port 0); once the server listens, on the port the system
// gave it, openTo() relays every connection to it byte for byte, as a TCP load balancer in front of
// it would. Connections that arrive earlier wait at the door. No port is guessed.
import * as net from 'node:net';

interface Target {
  host: string;
  port: number;
}

/** Relays both directions, half-closes included; an error on either side cuts both. */
function splice(client: net.Socket, server: net.Socket): void {
  const cut = () => {
    client.destroy();
    server.destroy();
  };
  client.on('error', cut);
  server.on('error', cut);
  client.pipe(server);
  server.pipe(client);
}

export class FrontDoor {
  private readonly server = net.createServer({ allowHalfOpen: true }, (socket) => this.admit(socket));
  private readonly sockets = new Set<net.Socket>();
  private open!: (target: Target) => void;
  private readonly target = new Promise<Target>((resolve) => (this.open = resolve));

  private constructor() {}

  static async open(): Promise<FrontDoor> {
    const door = new FrontDoor();
    await new Promise<void>((resolve, reject) => {
      door.server.once('error', reject);
      door.server.listen(0, '127.0.0.1', () => resolve());
    });
    return door;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `http://127.0.0.1:<port>` (or https): what the config and the clients name the server by. */
  origin(scheme: 'http' | 'https' = 'http'): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /** Lets connections through to the server at `address` (`http://127.0.0.1:41234`, as servers report where they listen). */
  openTo(address: string | URL): void {
    const { hostname, port } = new URL(address);
    this.open({ host: hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(port) });
  }

  /** Stops admitting and cuts the relayed connections. */
  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private admit(client: net.Socket): void {
    this.track(client);
    client.pause();
    client.on('error', () => client.destroy());
    void this.target.then(({ host, port }) => {
      if (client.destroyed) return;
      splice(client, this.track(net.connect({ host, port, allowHalfOpen: true })));
      client.resume();
    });
  }
}
