// Which destinations the signer signs for: the allowed_destinations entries, compiled once at load,
// and the link-local and cloud metadata addresses, refused unless an entry names them exactly. A
// token for the metadata service is a credential handed to whoever can reach the proxy.
import * as net from 'node:net';
import { parseAuthority, parsePort } from '../proxy/mitm/connectTarget';
import { JwtproxyError } from '../util/JwtproxyError';
import type { Destination } from './proxyTarget';

type HostPattern = { kind: 'any' } | { kind: 'exact'; hostname: string } | { kind: 'subdomains'; suffix: string };

/** One allowed_destinations entry: a host pattern and, when written, the one port it allows. */
export interface DestinationRule {
  entry: string;
  host: HostPattern;
  port?: number;
}

export class DestinationRuleError extends JwtproxyError {
  readonly code = 'ERR_DESTINATION_RULE_INVALID';
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(entry)}: ${reason}`);
  }
}

export type DestinationRefusalReason = 'not_allowed' | 'link_local_or_metadata';

/** Names only the cloud metadata services answer to; DNS names are not resolved by the check. */
const METADATA_NAMES: ReadonlySet<string> = new Set(['metadata.google.internal', 'metadata']);

/** Link-local ranges (AWS, GCP, Azure, OCI… metadata at 169.254.169.254) and the metadata addresses outside them. */
function linkLocalAndMetadataAddresses(): net.BlockList {
  const list = new net.BlockList();
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud
  list.addSubnet('fe80::', 10, 'ipv6');
  list.addAddress('fd00:ec2::254', 'ipv6'); // AWS over IPv6
  return list;
}

/**
 * Parses one entry: `host`, `host:port`, `*.domain[:port]` (any name below domain, not domain
 * itself), `*` or `*:port` (any host), an IPv4 address or a bracketed IPv6 address, each with an
 * optional port. Hosts are read as destinations are, so an entry is in the form it is compared in.
 */
export function parseDestinationRule(entry: string): DestinationRule {
  const fail = (reason: string) => new DestinationRuleError(entry, reason);
  if (entry === '') throw fail('is empty');
  if (/[/@]/.test(entry)) throw fail('write a host and an optional port only, without a scheme, user or path');
  if (entry === '*') return { entry, host: { kind: 'any' } };
  if (entry.startsWith('*:')) return { entry, host: { kind: 'any' }, port: parsePort(entry.slice(2), fail) };
  const wildcard = entry.startsWith('*.');
  const rest = wildcard ? entry.slice(2) : entry;
  if (rest.includes('*')) throw fail('a wildcard may only be the whole host (*) or its first label (*.example.com)');
  const { hostname, port } = parseAuthority(rest, fail);
  if (!wildcard) return { entry, host: { kind: 'exact', hostname }, port };
  if (net.isIP(hostname)) throw fail('a wildcard covers the names below a DNS name, not addresses: list IP addresses one by one');
  return { entry, host: { kind: 'subdomains', suffix: `.${hostname}` }, port };
}

function hostMatches(pattern: HostPattern, hostname: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return pattern.hostname === hostname;
    case 'subdomains':
      return hostname.endsWith(pattern.suffix);
  }
}

function ruleMatches(rule: DestinationRule, destination: Destination): boolean {
  return (rule.port === undefined || rule.port === destination.port) && hostMatches(rule.host, destination.hostname);
}

export class DestinationPolicy {
  private readonly linkLocalAndMetadata = linkLocalAndMetadataAddresses();

  /** `rules` undefined: no allow-list (the Go signer's behaviour), every destination but the refused ones. */
  constructor(readonly rules?: readonly DestinationRule[]) {}

  /** True when only listed destinations are signed for. */
  get restricted(): boolean {
    return this.rules !== undefined;
  }

  /** Why `destination` is refused, or undefined when the signer may sign for it. */
  refusalOf(destination: Destination): DestinationRefusalReason | undefined {
    if (this.isLinkLocalOrMetadata(destination.hostname)) {
      // Only an entry naming the host itself opens it: `*` or `*.internal` is not meant for it.
      const named = this.rules?.some((rule) => rule.host.kind === 'exact' && ruleMatches(rule, destination));
      return named ? undefined : 'link_local_or_metadata';
    }
    if (this.rules && !this.rules.some((rule) => ruleMatches(rule, destination))) return 'not_allowed';
    return undefined;
  }

  private isLinkLocalOrMetadata(hostname: string): boolean {
    const family = net.isIP(hostname);
    if (family === 0) return METADATA_NAMES.has(hostname);
    return this.linkLocalAndMetadata.check(hostname, family === 4 ? 'ipv4' : 'ipv6');
  }
}
