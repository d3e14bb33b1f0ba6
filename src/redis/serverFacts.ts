// What a Redis server says about itself in INFO that decides whether it can keep nonces or keys:
// whether it is a Cluster node, and whether it evicts keys when full.
import type { Cluster, Redis } from 'ioredis';

export interface ServerFacts {
  /** `cluster_enabled:1`: keys live on the node owning their slot, so a plain client gets MOVED. */
  clusterEnabled: boolean;
  /** noeviction, volatile-lru, allkeys-lru…; undefined when INFO did not say. */
  maxmemoryPolicy?: string;
  /** 0: no limit (nothing is evicted until one is set). */
  maxmemory?: number;
}

function parseInfo(text: string): ServerFacts {
  const field = (name: string): string | undefined => new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(text)?.[1];
  const maxmemory = field('maxmemory');
  return {
    clusterEnabled: field('cluster_enabled') === '1',
    maxmemoryPolicy: field('maxmemory_policy'),
    maxmemory: maxmemory === undefined ? undefined : Number(maxmemory),
  };
}

/**
 * INFO of one server (every master, for a Cluster); undefined when the server does not let this
 * user read it (a managed Redis renaming INFO, an ACL without +info): the caller cannot tell then.
 */
export async function readServerFacts(client: Redis | Cluster): Promise<ServerFacts[] | undefined> {
  const servers = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client as Redis];
  try {
    return await Promise.all(servers.map(async (server) => parseInfo(await server.info())));
  } catch (error) {
    if (/NOPERM|unknown command/i.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** Policies that never drop a key to make room: only noeviction. Every other one drops nonces (they have a TTL). */
export const isEvictingPolicy = (policy: string | undefined): boolean => policy !== undefined && policy !== 'noeviction';
