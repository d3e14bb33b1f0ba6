// A real Sentinel deployment on loopback: a master, replicas (each optionally behind a TcpRelay),
// and three Sentinels with their own password. The servers have an ACL user for jwtproxy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from '../support/eventually';
import { RedisServer } from '../support/redisServer';
import { TcpRelay } from './tcpRelay';

export const MASTER_NAME = 'nonces';
export const SENTINEL_PASSWORD = 'sentinel-secret';
export const USER = 'jwtproxy';
export const USER_PASSWORD = 'nonce-secret';

/** Directives every data server gets: quick full syncs and the jwtproxy ACL user. */
const SERVER_ARGS = ['--repl-diskless-sync-delay', '0', '--user', USER, 'on', `>${USER_PASSWORD}`, '~*', '&*', '+@all'];

export class SentinelSet {
  readonly relays: TcpRelay[] = [];
  readonly replicas: RedisServer[] = [];
  readonly sentinels: RedisServer[] = [];
  master!: RedisServer;

  constructor(private readonly folder: string) {}

  static async start(folder: string, options: { replicas: number; viaRelay: boolean }): Promise<SentinelSet> {
    const set = new SentinelSet(folder);
    set.master = await RedisServer.start([...SERVER_ARGS, '--dir', set.dir('master')]);
    for (let i = 0; i < options.replicas; i++) {
      let port = set.master.port;
      if (options.viaRelay) {
        const relay = await TcpRelay.start(port);
        set.relays.push(relay);
        port = relay.port;
      }
      set.replicas.push(await RedisServer.start([...SERVER_ARGS, '--dir', set.dir(`replica${i}`), '--replicaof', '127.0.0.1', String(port)]));
    }
    const admin = new Redis(set.master.port, '127.0.0.1');
    await eventually(async () => (String(await admin.info('replication')).match(/state=online/g) ?? []).length === options.replicas, 'the replicas are in sync', 15_000);
    admin.disconnect();
    for (let i = 0; i < 3; i++) {
      const configFile = path.join(set.dir(`sentinel${i}`), 'sentinel.conf');
      fs.writeFileSync(
        configFile,
        [
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${set.master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `requirepass ${SENTINEL_PASSWORD}`,
          `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
          '',
        ].join('\n'),
      );
      set.sentinels.push(await RedisServer.start([configFile, '--sentinel', '--dir', set.dir(`sentinel${i}`)], { password: SENTINEL_PASSWORD }));
    }
    // Each Sentinel must know the replicas and the other two before a failover can be voted.
    for (const sentinel of set.sentinels) {
      const client = set.sentinelClient(sentinel);
      await eventually(
        async () => {
          const master = toObject((await client.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[]);
          return Number(master['num-slaves']) === options.replicas && Number(master['num-other-sentinels']) === 2;
        },
        'the sentinels know the replicas and each other',
        20_000,
      );
      client.disconnect();
    }
    return set;
  }

  private dir(name: string): string {
    const dir = path.join(this.folder, name);
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  sentinelClient(sentinel: RedisServer = this.sentinels[0]): Redis {
    return new Redis({ port: sentinel.port, host: '127.0.0.1', password: SENTINEL_PASSWORD });
  }

  get sentinelAddresses(): { host: string; port: number }[] {
    return this.sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port }));
  }

  /** The master's port as the Sentinels announce it. */
  async announcedMasterPort(): Promise<number> {
    const client = this.sentinelClient();
    try {
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
      return Number(port);
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.replicas, this.master].map((server) => server.kill()));
    await Promise.all(this.relays.map((relay) => relay.stop()));
  }
}

function toObject(flat: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) result[flat[i]] = flat[i + 1];
  return result;
}
