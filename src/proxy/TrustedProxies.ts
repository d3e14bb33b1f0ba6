// The peers whose X-Forwarded-For is believed: addresses and CIDR ranges, and `unix` for peers on
// a unix socket. A client connecting directly could otherwise claim any address upstream.
import { BlockList, isIP } from 'node:net';

export type ProxyRange = { type: 'unix' } | { type: 'subnet'; address: string; prefix: number; family: 'ipv4' | 'ipv6' };

/** `entry` as a range (10.0.0.0/8, 127.0.0.1, ::1, fd00::/8, unix), or undefined when it is none. */
export function parseProxyRange(entry: string): ProxyRange | undefined {
  if (entry === 'unix') return { type: 'unix' };
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const bits = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(bits) : entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return { type: 'subnet', address, prefix: Number(prefixText), family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class TrustedProxies {
  private readonly subnets = new BlockList();
  private readonly unix: boolean;
  private readonly empty: boolean;

  constructor(ranges: readonly ProxyRange[]) {
    this.unix = ranges.some((range) => range.type === 'unix');
    this.empty = ranges.length === 0;
    for (const range of ranges) if (range.type === 'subnet') this.subnets.addSubnet(range.address, range.prefix, range.family);
  }

  /** Whether the peer at `address` (undefined on a unix socket) may speak for the client. IPv4-mapped IPv6 matches IPv4 ranges. */
  trusts(address: string | undefined): boolean {
    if (this.empty) return false;
    if (address === undefined) return this.unix;
    const version = isIP(address);
    return version !== 0 && this.subnets.check(address, version === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Trusts no one: every client's X-Forwarded-For is replaced by the address it connects from. */
export const TRUST_NO_PROXY = new TrustedProxies([]);
