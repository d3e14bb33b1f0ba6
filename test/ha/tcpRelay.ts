// A TCP relay on loopback that can be frozen: while frozen it forwards nothing either way (the
// bytes wait in socket buffers), as a replication link stalled by a network fault would.
import * as net from 'node:net';

export class TcpRelay {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private frozen = false;

  private constructor(private readonly server: net.Server) {}

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  static async start(targetPort: number): Promise<TcpRelay> {
    const server = net.createServer();
    const relay = new TcpRelay(server);
    server.on('connection', (client) => relay.connect(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  private connect(client: net.Socket, targetPort: number): void {
    const target = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, target];
    this.pairs.add(pair);
    const close = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      target.destroy();
    };
    for (const socket of pair) {
      socket.on('error', close);
      socket.on('close', close);
    }
    if (!this.frozen) this.flow(pair);
  }

  private flow([client, target]: [net.Socket, net.Socket]): void {
    client.pipe(target);
    target.pipe(client);
  }

  freeze(): void {
    this.frozen = true;
    for (const [client, target] of this.pairs) {
      client.unpipe(target);
      target.unpipe(client);
      client.pause();
      target.pause();
    }
  }

  thaw(): void {
    this.frozen = false;
    for (const pair of this.pairs) this.flow(pair);
  }

  async stop(): Promise<void> {
    for (const [client, target] of this.pairs) {
      client.destroy();
      target.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
