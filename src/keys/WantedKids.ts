// The kids waiting for a fetch once the budget for new kids is spent, and which one gets the
// next slot. Clients, not requests, decide: a kid a provider really serves is asked for by every
// user, a made-up kid by its sender alone however fast it sends. Each client's voice is split
// among all the kids it waits for, so one address naming many kids weighs as one, and an IPv6
// client counts per /56, so one network's addresses weigh as one too. A kid's weight grows with
// the slots it has waited, so every kid in the list is reached in bounded time; and the clients
// of a kid a slot found missing are not heard for `mutedMs`, so the same addresses cannot win
// slot after slot with fresh made-up kids. What this cannot stop: a few hundred attacking networks
// keeping every place of a full list taken hold a real kid out while they last (a new kid enters
// a full list on its asker's voice alone); only_from_trusted_proxies keeps them from the lookup.
import { isIPv6 } from 'node:net';

/** Clients remembered per waiting kid: past a few dozen the choice is clear. */
const MAX_CLIENTS_PER_KID = 32;
const MAX_MUTED_CLIENTS = 4096;
/** How many of the longest waiting kids a full list weighs to make room. */
const EVICTION_SAMPLE = 8;

interface Waiting {
  clients: Set<string>;
  /** The slot count when the kid started waiting. */
  since: number;
}

export class WantedKids {
  private readonly waiting = new Map<string, Waiting>();
  /** How many waiting kids each client asked for: its voice is split among them. */
  private readonly waitingKidsOf = new Map<string, number>();
  /** Clients whose slot-fetched kid was not found, until when. */
  private readonly muted = new Map<string, number>();
  private slots = 0;

  constructor(
    private readonly maxKids: number,
    private readonly mutedMs: number,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Notes that `client` wants `kid`. A full list takes a new kid only from a client that waits for
   * none yet, and only when it weighs more than the lightest of the longest waiting: constant work
   * per request, however many clients flood it.
   */
  want(kid: string, client: string, now: number): void {
    const who = clientGroup(client);
    let entry = this.waiting.get(kid);
    if (!entry) {
      if (this.waiting.size >= this.maxKids) {
        if (this.waitingKidsOf.has(who)) return;
        const [lightest, lightestScore] = this.lightest(now);
        if (this.voice(who, now, 1) <= lightestScore) return;
        this.forget(lightest);
      }
      this.waiting.set(kid, (entry = { clients: new Set(), since: this.slots }));
    }
    if (!entry.clients.has(who) && entry.clients.size < MAX_CLIENTS_PER_KID) {
      entry.clients.add(who);
      this.waitingKidsOf.set(who, (this.waitingKidsOf.get(who) ?? 0) + 1);
    }
  }

  /** The kid for this slot, taken out of the list with the clients that wanted it; undefined when none waits. */
  takeHeaviest(now: number): { kid: string; clients: string[] } | undefined {
    let chosen: string | undefined;
    let most = -1;
    // Ties go to the kid that waited longest (the earlier entry).
    for (const kid of this.waiting.keys()) {
      const score = this.score(kid, now);
      if (score > most) [chosen, most] = [kid, score];
    }
    this.slots++;
    if (chosen === undefined) return undefined;
    const clients = [...this.waiting.get(chosen)!.clients];
    this.forget(chosen);
    return { kid: chosen, clients };
  }

  /** Silences `clients` for `mutedMs`: the kid they got a slot for does not exist. */
  mute(clients: readonly string[], now: number): void {
    for (const client of clients) {
      this.muted.delete(client);
      if (this.muted.size >= MAX_MUTED_CLIENTS) this.muted.delete(this.muted.keys().next().value!);
      this.muted.set(client, now + this.mutedMs);
    }
  }

  forget(kid: string): void {
    const entry = this.waiting.get(kid);
    if (!entry) return;
    this.waiting.delete(kid);
    for (const client of entry.clients) {
      const count = this.waitingKidsOf.get(client)! - 1;
      if (count === 0) this.waitingKidsOf.delete(client);
      else this.waitingKidsOf.set(client, count);
    }
  }

  clear(): void {
    this.waiting.clear();
    this.waitingKidsOf.clear();
    this.muted.clear();
  }

  /** Among the EVICTION_SAMPLE longest waiting kids, the one with the lowest score, and its score; the newest among equals. */
  private lightest(now: number): [string, number] {
    let lightest = '';
    let least = Infinity;
    let looked = 0;
    for (const kid of this.waiting.keys()) {
      const score = this.score(kid, now);
      if (score <= least) [lightest, least] = [kid, score];
      if (++looked === EVICTION_SAMPLE) break;
    }
    return [lightest, least];
  }

  private score(kid: string, now: number): number {
    const entry = this.waiting.get(kid)!;
    let weight = 0;
    for (const client of entry.clients) weight += this.voice(client, now, 0);
    return weight * (1 + this.slots - entry.since);
  }

  /** A client's share of voice for one kid, were it waiting for `more` kids besides. */
  private voice(client: string, now: number, more: number): number {
    const until = this.muted.get(client);
    if (until !== undefined) {
      if (now < until) return 0;
      this.muted.delete(client);
    }
    return 1 / ((this.waitingKidsOf.get(client) ?? 0) + more);
  }
}

/** The unit a client counts as: its address, or its /56 for IPv6 (one subscriber's network, as ISPs delegate them). */
export function clientGroup(address: string): string {
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address.split('%')[0].toLowerCase());
  // IPv4-mapped (::ffff:a.b.c.d, or the same in hex) is the IPv4 client.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  return `${groups[0].toString(16)}:${groups[1].toString(16)}:${groups[2].toString(16)}:${(groups[3] & 0xff00).toString(16)}::/56`;
}

/** The eight 16-bit groups of a valid IPv6 address, "::" expanded and a dotted IPv4 tail read as two groups. */
function ipv6Groups(address: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const text = dotted ? `${address.slice(0, dotted.index)}${((Number(dotted[1]) << 8) | Number(dotted[2])).toString(16)}:${((Number(dotted[3]) << 8) | Number(dotted[4])).toString(16)}` : address;
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  return tail === undefined ? front : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}
