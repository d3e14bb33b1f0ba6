// The peers whose client certificate headers a verifier believes: IPv4 and IPv6 CIDR ranges
// (a bare address is one host), matched on the connection's own remote address, never on a
// forwarded one. IPv4-mapped IPv6 peers (::ffff:10.0.0.1) match IPv4 ranges.
import * as net from 'node:net';
import { JwtproxyError } from '../util/JwtproxyError';

export class TrustedGateways {
  private constructor(private readonly ranges: net.BlockList) {}

  /**
   * The ranges of `entries` ("10.0.0.0/8", "::1/128", "127.0.0.1"); throws with the index and
   * a reason for an entry that is not one.
   */
  static parse(entries: readonly string[]): TrustedGateways {
    const ranges = new net.BlockList();
    entries.forEach((entry, index) => {
      const [address, prefixText, extra] = entry.split('/');
      const family = net.isIP(address);
      const bits = family === 6 ? 128 : 32;
      const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= bits)) {
        throw new InvalidGatewayError(index, `${JSON.stringify(entry)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1/32, ::1/128)`);
      }
      ranges.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
    });
    return new TrustedGateways(ranges);
  }

  /** True when `address` (a socket's remoteAddress) is in one of the ranges; a unix socket peer has none. */
  includes(address: string | undefined): boolean {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.ranges.check(mapped[1], 'ipv4');
    const family = net.isIP(address);
    return family !== 0 && this.ranges.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

export class InvalidGatewayError extends JwtproxyError {
  readonly code = 'ERR_INVALID_GATEWAY';

  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}
