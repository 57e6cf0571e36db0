// Remote endpoints, refcounted, and the kernel tables they imply. Pure.
//
// The same endpoint can be announced more than once (gossip rebroadcasts, two sources), and an
// address can move to another node before the old announcement is withdrawn. So each
// (ip, mac, vtep) is counted, and an address is programmed with its newest live announcement.
import type { RemoteEndpoint } from './validate.js';

interface Announcement {
  mac: string;
  vtep: string;
  count: number;
  /** Insertion order; the newest live announcement wins. */
  serial: number;
}

/** IP → MAC on the VXLAN device (ARP proxy) and MAC → VTEP in its forwarding database. */
export interface KernelTables {
  neigh: Map<string, string>;
  fdb: Map<string, string>;
}

export interface TableDiff {
  /** ip, mac: add or replace. */
  neighSet: Array<[string, string]>;
  neighDel: string[];
  /** mac, vtep: add or replace. */
  fdbSet: Array<[string, string]>;
  /** mac, vtep as it is now in the kernel. */
  fdbDel: Array<[string, string]>;
}

export function emptyTables(): KernelTables {
  return { neigh: new Map(), fdb: new Map() };
}

export class EndpointTable {
  /** Almost always one announcement per address: a list of exactly that length, not a Map and
   *  a `mac|vtep` key string per address (about 350 bytes each at 10,000 remote endpoints). */
  private readonly byIp = new Map<string, Announcement[]>();
  private serial = 0;
  /** Bumped by every change to what should be programmed (see ProgrammedNetwork.inSyncAt). */
  version = 0;

  /** Returns true when this changed what should be programmed. */
  add(e: RemoteEndpoint): boolean {
    const before = this.winner(e.ip);
    const anns = this.byIp.get(e.ip);
    const a = anns?.find((x) => x.mac === e.mac && x.vtep === e.vtep);
    if (a) {
      a.count++;
      a.serial = ++this.serial;
    } else {
      const added = { mac: e.mac, vtep: e.vtep, count: 1, serial: ++this.serial };
      if (anns) anns.push(added);
      else this.byIp.set(e.ip, [added]);
    }
    return this.changed(before, e.ip);
  }

  /** Returns true when this changed what should be programmed; unknown endpoints are ignored. */
  remove(e: RemoteEndpoint): boolean {
    const anns = this.byIp.get(e.ip);
    const i = anns?.findIndex((x) => x.mac === e.mac && x.vtep === e.vtep) ?? -1;
    if (!anns || i < 0) return false;
    const before = this.winner(e.ip);
    if (--anns[i]!.count === 0) anns.splice(i, 1);
    if (anns.length === 0) this.byIp.delete(e.ip);
    return this.changed(before, e.ip);
  }

  private changed(before: { mac: string; vtep: string } | undefined, ip: string): boolean {
    if (sameWinner(before, this.winner(ip))) return false;
    this.version++;
    return true;
  }

  get size(): number {
    return this.byIp.size;
  }

  winner(ip: string): { mac: string; vtep: string } | undefined {
    let best: Announcement | undefined;
    for (const a of this.byIp.get(ip) ?? []) if (!best || a.serial > best.serial) best = a;
    return best && { mac: best.mac, vtep: best.vtep };
  }

  /** What the kernel should hold for this network. */
  tables(): KernelTables {
    const t = emptyTables();
    for (const ip of this.byIp.keys()) {
      const w = this.winner(ip)!;
      t.neigh.set(ip, w.mac);
      t.fdb.set(w.mac, w.vtep);
    }
    return t;
  }
}

function sameWinner(a: { mac: string; vtep: string } | undefined, b: { mac: string; vtep: string } | undefined): boolean {
  return a?.mac === b?.mac && a?.vtep === b?.vtep;
}

export function diffTables(current: KernelTables, desired: KernelTables): TableDiff {
  const d: TableDiff = { neighSet: [], neighDel: [], fdbSet: [], fdbDel: [] };
  for (const [ip, mac] of desired.neigh) if (current.neigh.get(ip) !== mac) d.neighSet.push([ip, mac]);
  for (const ip of current.neigh.keys()) if (!desired.neigh.has(ip)) d.neighDel.push(ip);
  for (const [mac, vtep] of desired.fdb) if (current.fdb.get(mac) !== vtep) d.fdbSet.push([mac, vtep]);
  for (const [mac, vtep] of current.fdb) if (!desired.fdb.has(mac)) d.fdbDel.push([mac, vtep]);
  return d;
}

export function isEmptyDiff(d: TableDiff): boolean {
  return d.neighSet.length + d.neighDel.length + d.fdbSet.length + d.fdbDel.length === 0;
}
