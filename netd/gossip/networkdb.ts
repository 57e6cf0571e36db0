// NetworkDB as libnetwork runs it between Docker nodes (docs/research/networkdb-gossip-facts.md
// §3–5), on top of gossip/memberlist.ts: which node is on which overlay network (network
// events, push-pull state), and the per-network tables (table events, bulk sync). berth
// publishes its own endpoints in `overlay_peer_table` and turns everyone else's into netd's
// ClusterTables, so tasks on berth and on Docker nodes reach each other over VXLAN.
//
// Bounded the way libnetwork bounds it (networkdb/cluster.go, delegate.go, broadcast.go):
// - deleted entries are kept as tombstones for the reap interval, then forgotten; a left
//   network membership likewise; a dead or departed node's entries and memberships go at once;
// - a table event is retransmitted a limited number of gossip rounds (RetransmitMult ×
//   ceil(log10(nodes+1))), and another node's event is re-gossiped only when it changed our
//   state and we have synced the network;
// - every bulkSyncInterval each network's tables are exchanged with a random peer, so a lost
//   create, update or delete converges within that interval (plus one round trip).
// What berth adds: watchers get per-key changes coalesced over a short settle window, so a
// flapping entry or node does not reprogram the data plane once per message.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ClusterTables, Endpoint, EndpointEvent } from '../types.js';
import type { LogFn } from '../../base/index.js';
import {
  EventType,
  MessageType,
  TableEventType,
  bulkSyncParts,
  compound,
  decodeBulkSync,
  compoundParts,
  decodeGossip,
  decodeNetworkEvent,
  decodePeerRecord,
  decodePushPull,
  decodeTableEvent,
  networkEvent,
  peerRecord,
  pushPull,
  tableEvent,
  tableEventsCompound,
  type BulkSync,
  type TableEvent,
  type TableEventSource,
} from './messages.js';
import type { MemberState, Memberlist, MemberlistDelegate } from './memberlist.js';

export const OVERLAY_PEER_TABLE = 'overlay_peer_table';
export const ENDPOINT_TABLE = 'endpoint_table';

/** libnetwork's reapEntryInterval: how long a deleted entry is remembered. */
const REAP_ENTRY_MS = 30 * 60_000;
/** libnetwork's reapPeriod: how often tombstones are looked at. */
const REAP_PERIOD_MS = 5_000;
/** libnetwork's nodeReapInterval: how long a dead or left node is remembered (for the counters
 *  and to resync it should it come back). */
const NODE_REAP_MS = 24 * 3600_000;
/** The value of an event object before it is filled. */
const NO_VALUE = Buffer.alloc(0);
/** libnetwork's bulkSyncInterval. */
const BULK_SYNC_INTERVAL_MS = 30_000;
/** How long a bulk sync waits for the peer's answering one (Docker waits 30 s). */
const BULK_SYNC_WAIT_MS = 5_000;
/** memberlist's GossipInterval: retransmissions go out on this tick. */
const GOSSIP_INTERVAL_MS = 200;
/** memberlist's RetransmitMult, as libnetwork's queues use it. */
const RETRANSMIT_MULT = 4;
/** Peers each gossip round goes to (libnetwork: 3 random nodes of the network). */
const GOSSIP_FANOUT = 3;
/** Payload bytes per gossip packet: libnetwork's PacketBufferSize 1400, less headers. */
const PACKET_BUDGET = 1_300;
/** Packets per queue and round: bounds bandwidth while a burst drains. */
const PACKETS_PER_ROUND = 8;
/** Events waiting for retransmission per queue; past it the oldest are dropped (the periodic
 *  bulk sync repairs whatever they would have). */
const MAX_QUEUED = 1_024;
/** libnetwork's maxQueueLenBroadcastOnSync: past it, bulk-synced events are not re-gossiped. */
const MAX_QUEUE_REBROADCAST_ON_SYNC = 500;
/** Watchers get a key's settled state this long after its first change (see watchTable). */
const SETTLE_MS = 250;

const STATE_ALIVE = 0;
const STATE_SUSPECT = 1;
const STATE_DEAD = 2;
const STATE_LEFT = 3;

export interface NetworkDbOptions {
  /** Tombstone lifetime (libnetwork reapEntryInterval, 30 min). */
  reapEntryMs?: number;
  /** Reaper tick (libnetwork reapPeriod, 5 s). */
  reapPeriodMs?: number;
  /** Lifetime of a left network membership (libnetwork: reapEntry + 5 reap periods). */
  reapNetworkMs?: number;
  /** How long a dead or left node is remembered (libnetwork nodeReapInterval, 24 h). */
  nodeReapMs?: number;
  /** Periodic bulk sync of each network with a random peer (libnetwork bulkSyncInterval, 30 s);
   *  0 turns it off. */
  bulkSyncIntervalMs?: number;
  /** How long a bulk sync waits for the answer (5 s). */
  bulkSyncWaitMs?: number;
  /** Retransmission tick (memberlist GossipInterval, 200 ms). */
  gossipIntervalMs?: number;
  /** memberlist RetransmitMult (4). */
  retransmitMult?: number;
  /** Watchers' settle window (250 ms); 0 delivers every change at once. */
  settleMs?: number;
  /** Retransmission queue cap per network (1024). */
  maxQueued?: number;
}

export interface TableChange {
  table: string;
  /** The gossip node that owns the entry. */
  owner: string;
  kind: 'add' | 'remove';
  network: string;
  key: string;
  value: Buffer;
}

interface Entry {
  readonly owner: string;
  lTime: bigint;
  value: Buffer;
  deleting: boolean;
  /** When a tombstone is forgotten (performance.now() ms). */
  reapAt: number;
}

interface Membership {
  /** The member's name: the one string its entries' `owner` shares (20,000 entries of one peer
   *  held 20,000 copies of its name, one per decoded event). */
  node: string;
  lTime: bigint;
  leaving: boolean;
  reapAt: number;
}

export type DropReason = 'unknownNetwork' | 'notMember' | 'unknownNode' | 'staleLTime' | 'malformed' | 'malformedValue' | 'queueFull';

export interface NetworkDbStats {
  /** Networks this node is on (not leaving). */
  networks: number;
  /** Entries held, tombstones included. */
  entries: number;
  tables: Record<string, { live: number; tombstones: number }>;
  /** Members as memberlist last reported them (dead and left kept for nodeReapMs). */
  nodes: { alive: number; suspect: number; dead: number; left: number };
  /** Events waiting for retransmission. */
  queued: number;
  /** Entry changes waiting for the settle window. */
  pendingChanges: number;
  tableEventsIn: number;
  tableEventsOut: number;
  tableEventsRebroadcast: number;
  networkEventsIn: number;
  networkEventsOut: number;
  bulkSyncsIn: number;
  /** Of those, the ones whose payload was already applied, as it was, to unchanged state. */
  bulkSyncsUnchanged: number;
  bulkSyncsOut: number;
  periodicBulkSyncs: number;
  reaped: number;
  dropped: number;
  drops: Record<DropReason, number>;
}

/** Endpoint of a PeerRecord; undefined when the record does not parse. */
function endpointOf(network: string, key: string, value: Buffer): Endpoint | undefined {
  try {
    const p = decodePeerRecord(value);
    const ip = p.endpointIp.split('/')[0] ?? '';
    if (!ip || !p.tunnelEndpointIp) return undefined;
    return { network, ip, mac: p.endpointMac || undefined, vtep: p.tunnelEndpointIp, id: key };
  } catch {
    return undefined;
  }
}

/** memberlist's retransmitLimit: mult × ceil(log10(n + 1)). */
export function retransmitLimit(mult: number, nodes: number): number {
  return mult * Math.ceil(Math.log10(nodes + 1));
}

function pickRandom<T>(items: readonly T[], n: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}

/**
 * Events waiting for retransmission (memberlist's TransmitLimitedQueue): a newer event for the
 * same id replaces the older, each round takes the least-sent first, and an event leaves after
 * `limit` transmissions.
 */
class TransmitQueue {
  private readonly items = new Map<string, { msg: Buffer; transmits: number; seq: number }>();
  private seq = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.items.size;
  }

  /** Queues `msg`; returns how many old events the cap pushed out. */
  push(id: string, msg: Buffer, transmits: number): number {
    this.items.delete(id);
    this.items.set(id, { msg, transmits, seq: this.seq++ });
    let dropped = 0;
    for (const oldest of this.items.keys()) {
      if (this.items.size <= this.max) break;
      this.items.delete(oldest);
      dropped++;
    }
    return dropped;
  }

  /** One round: up to `maxPackets` packets of distinct events within `budget` bytes each. */
  round(budget: number, maxPackets: number, limit: number): Buffer[][] {
    const order = [...this.items].sort(([, a], [, b]) => a.transmits - b.transmits || b.seq - a.seq);
    const packets: Buffer[][] = [];
    let packet: Buffer[] = [];
    let used = 0;
    for (const [id, item] of order) {
      const size = item.msg.length + 4;
      if (packet.length > 0 && used + size > budget) {
        packets.push(packet);
        if (packets.length >= maxPackets) return packets;
        packet = [];
        used = 0;
      }
      packet.push(item.msg);
      used += size;
      if (++item.transmits >= limit) this.items.delete(id);
    }
    if (packet.length > 0) packets.push(packet);
    return packets;
  }

  clear(): void {
    this.items.clear();
  }
}

export class NetworkDb implements MemberlistDelegate, ClusterTables {
  private ml: Memberlist | undefined;
  private networkClock = 0n;
  private tableClock = 0n;
  /** network id → node name → its latest join/leave. Ours included. */
  private readonly networkNodes = new Map<string, Map<string, Membership>>();
  /** network id → table → key → entry (ours and others'). */
  private readonly tables = new Map<string, Map<string, Map<string, Entry>>>();
  /** Networks whose join-time bulk sync is done: only then are others' events re-gossiped. */
  private readonly inSync = new Set<string>();
  private readonly tableQueues = new Map<string, TransmitQueue>();
  private readonly networkQueue: TransmitQueue;
  /** Members by name as memberlist reported them; dead and left ones until nodeReapMs. */
  private readonly nodeStates = new Map<string, { state: number; since: number }>();
  private readonly events = new EventEmitter();
  private readonly bulkSyncWaiters = new Map<string, Set<() => void>>();
  /** What watchers were last told per entry (network → table → key, as `tables`: keyed by the
   *  strings the entries already hold, not by one joined id per entry), and the entries changed since.
   *  What was told is the entry object itself: another node's entry is replaced, never changed
   *  in place but for becoming a tombstone, so its owner and value stay those delivered. */
  private readonly delivered = new Map<string, Map<string, Map<string, Entry>>>();
  private readonly dirty = new Map<string, [string, string, string]>();
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private periodicSyncRunning = false;
  /** Goes up with every change to any stored entry: a cached sync payload is good while it holds. */
  private entriesVersion = 0;
  /** The encoded entries of a network set (networks joined by '\n'), reused by the bulk syncs
   *  that follow while no entry changes: at 10,000 endpoints a network's are 20,000 events,
   *  encoded twice every 30 s (our periodic sync and our answer to the peer's) though nothing
   *  changed. Not kept when tombstones are among them: a DELETE carries its residual reap time. */
  private readonly syncPayloads = new Map<string, { version: number; payload: Buffer }>();
  /** Goes up with every change to network memberships and to members' states: with the entries,
   *  all that decides what a table event does. */
  private membershipVersion = 0;
  /** Per sender and network set, the digest of the last bulk sync payload applied and the state
   *  it left. The same payload again, onto the same state, would change nothing: every event in
   *  it was taken (and is now as old as what we hold) or refused then and would be refused again.
   *  A 10,000-endpoint network's peer sends its 20,000 unchanged events every 30 s. */
  private readonly appliedSyncs = new Map<string, { digest: Buffer; entries: number; memberships: number }>();
  private readonly counters = {
    tableEventsIn: 0,
    tableEventsOut: 0,
    tableEventsRebroadcast: 0,
    networkEventsIn: 0,
    networkEventsOut: 0,
    bulkSyncsIn: 0,
    bulkSyncsUnchanged: 0,
    bulkSyncsOut: 0,
    periodicBulkSyncs: 0,
    reaped: 0,
  };
  private readonly drops: Record<DropReason, number> = { unknownNetwork: 0, notMember: 0, unknownNode: 0, staleLTime: 0, malformed: 0, malformedValue: 0, queueFull: 0 };
  private readonly cfg: Required<NetworkDbOptions>;

  constructor(
    readonly nodeName: string,
    private readonly log: LogFn = () => undefined,
    opts: NetworkDbOptions = {},
  ) {
    const reapEntryMs = opts.reapEntryMs ?? REAP_ENTRY_MS;
    const reapPeriodMs = opts.reapPeriodMs ?? REAP_PERIOD_MS;
    this.cfg = {
      reapEntryMs,
      reapPeriodMs,
      reapNetworkMs: opts.reapNetworkMs ?? reapEntryMs + 5 * reapPeriodMs,
      nodeReapMs: opts.nodeReapMs ?? NODE_REAP_MS,
      bulkSyncIntervalMs: opts.bulkSyncIntervalMs ?? BULK_SYNC_INTERVAL_MS,
      bulkSyncWaitMs: opts.bulkSyncWaitMs ?? BULK_SYNC_WAIT_MS,
      gossipIntervalMs: opts.gossipIntervalMs ?? GOSSIP_INTERVAL_MS,
      retransmitMult: opts.retransmitMult ?? RETRANSMIT_MULT,
      settleMs: opts.settleMs ?? SETTLE_MS,
      maxQueued: opts.maxQueued ?? MAX_QUEUED,
    };
    this.networkQueue = new TransmitQueue(this.cfg.maxQueued);
  }

  /** Starts gossiping through `ml`: retransmissions, reaping and the periodic bulk sync. */
  attach(ml: Memberlist): void {
    this.ml = ml;
    this.stopTimers();
    const every = (ms: number, fn: () => void) => {
      if (ms > 0) this.timers.push(setInterval(fn, ms).unref());
    };
    every(this.cfg.gossipIntervalMs, () => this.gossipRound());
    every(this.cfg.reapPeriodMs, () => this.reap());
    every(this.cfg.bulkSyncIntervalMs, () => void this.periodicBulkSync());
  }

  /** Stops the timers (state is kept). */
  close(): void {
    this.stopTimers();
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
  }

  private stopTimers(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  stats(): NetworkDbStats {
    let entries = 0;
    const tables: NetworkDbStats['tables'] = {};
    for (const t of this.tables.values()) {
      for (const [name, keys] of t) {
        const s = (tables[name] ??= { live: 0, tombstones: 0 });
        for (const e of keys.values()) {
          if (e.deleting) s.tombstones++;
          else s.live++;
        }
        entries += keys.size;
      }
    }
    const nodes = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const { state } of this.nodeStates.values()) {
      if (state === STATE_ALIVE) nodes.alive++;
      else if (state === STATE_SUSPECT) nodes.suspect++;
      else if (state === STATE_DEAD) nodes.dead++;
      else if (state === STATE_LEFT) nodes.left++;
    }
    let queued = this.networkQueue.size;
    for (const q of this.tableQueues.values()) queued += q.size;
    const dropped = Object.values(this.drops).reduce((a, b) => a + b, 0);
    return { networks: this.joinedNetworks().length, entries, tables, nodes, queued, pendingChanges: this.dirty.size, ...this.counters, dropped, drops: { ...this.drops } };
  }

  /** The live entries of one table on every network (ours and others'): diagnostics. */
  liveEntries(table: string): Array<{ network: string; key: string; owner: string; value: Buffer }> {
    const out: Array<{ network: string; key: string; owner: string; value: Buffer }> = [];
    for (const [network, tables] of this.tables) {
      for (const [key, e] of tables.get(table) ?? []) if (!e.deleting) out.push({ network, key, owner: e.owner, value: e.value });
    }
    return out;
  }

  /** Nodes (other than us) on a network, with their gossip addresses. A suspect is still one. */
  peersOn(network: string): MemberState[] {
    const out: MemberState[] = [];
    for (const [name, s] of this.networkNodes.get(network) ?? []) {
      if (name === this.nodeName || s.leaving) continue;
      const m = this.ml?.member(name);
      if (m && m.state <= STATE_SUSPECT) out.push(m);
    }
    return out;
  }

  /** Networks this node is on (not leaving). */
  joinedNetworks(): string[] {
    const out: string[] = [];
    for (const [nid, nodes] of this.networkNodes) if (nodes.get(this.nodeName)?.leaving === false) out.push(nid);
    return out;
  }

  // ---- ClusterTables ----

  on(event: EndpointEvent, fn: (e: Endpoint) => void): void {
    this.events.on(event, fn);
  }

  off(event: EndpointEvent, fn: (e: Endpoint) => void): void {
    this.events.off(event, fn);
  }

  *endpoints(network: string): Iterable<Endpoint> {
    for (const [key, e] of this.tables.get(network)?.get(OVERLAY_PEER_TABLE) ?? []) {
      if (e.deleting || e.owner === this.nodeName) continue;
      const ep = endpointOf(network, key, e.value);
      if (ep) yield ep;
    }
  }

  // ---- our side ----

  /** Announces that this node is on `network`, then exchanges table state with its members.
   *  Joining again after a leave starts over (a new, later join). */
  async joinNetwork(network: string): Promise<void> {
    const mine = this.networkNodes.get(network)?.get(this.nodeName);
    if (mine && !mine.leaving) return;
    const lTime = ++this.networkClock;
    this.nodesOf(network).set(this.nodeName, { node: this.nodeName, lTime, leaving: false, reapAt: Infinity });
    this.membershipVersion++;
    this.inSync.delete(network);
    this.sendNetworkEvent(EventType.JOIN, lTime, network);
    // A push-pull carries the join reliably (peers drop table events from nodes they do not know
    // are on the network), then a bulk sync swaps the network's entries both ways.
    await this.pushPullAll();
    await Promise.all(this.peersOn(network).map((m) => this.bulkSyncNode([network], m, true)));
    if (this.networkNodes.get(network)?.get(this.nodeName)?.lTime === lTime) this.inSync.add(network);
  }

  /**
   * libnetwork's LeaveNetwork: our entries on `network` become tombstones (their DELETEs go to
   * the network's nodes), other nodes' entries are dropped here (watchers see them go), and a
   * LEAVE goes to every member — each peer then drops whatever of ours it still holds. Resolves
   * once the leave has also gone out by push-pull (reliably).
   */
  async leaveNetwork(network: string): Promise<void> {
    const mine = this.networkNodes.get(network)?.get(this.nodeName);
    if (!mine || mine.leaving) return;
    const now = performance.now();
    const peers = this.peersOn(network);
    const deletes: Buffer[] = [];
    const tables = this.tables.get(network);
    for (const [table, keys] of tables ?? []) {
      for (const [key, e] of keys) {
        if (e.owner === this.nodeName) {
          if (e.deleting) continue;
          e.deleting = true;
          e.lTime = ++this.tableClock;
          e.reapAt = now + this.cfg.reapEntryMs;
          this.entriesVersion++;
          deletes.push(tableEvent({ type: TableEventType.DELETE, lTime: e.lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value: e.value, residualReapTime: this.residualSeconds(e, now) }));
        } else {
          // So a later join accepts their CREATEs again (libnetwork deleteNodeNetworkEntries).
          keys.delete(key);
          this.entriesVersion++;
          this.markDirty(network, table, key);
        }
      }
    }
    // The removals reach the watchers now, not a settle window later: a re-join within that
    // window would otherwise bring the same entries back as "no change", and a watcher that
    // forgot the network meanwhile (the overlay plane retires it) would never hear of them.
    this.flushChanges();
    for (const packet of this.packets(deletes)) for (const m of peers) this.send(m, compound(packet), packet.length);
    this.tableQueues.get(network)?.clear();
    this.tableQueues.delete(network);
    this.inSync.delete(network);
    const lTime = ++this.networkClock;
    this.nodesOf(network).set(this.nodeName, { node: this.nodeName, lTime, leaving: true, reapAt: now + this.cfg.reapNetworkMs });
    this.membershipVersion++;
    this.sendNetworkEvent(EventType.LEAVE, lTime, network);
    await this.pushPullAll();
  }

  createEntry(network: string, table: string, key: string, value: Buffer): void {
    const lTime = ++this.tableClock;
    this.tableOf(network, table).set(key, { owner: this.nodeName, lTime, value, deleting: false, reapAt: Infinity });
    this.entriesVersion++;
    this.sendTableEvent({ type: TableEventType.CREATE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value, residualReapTime: 0 });
  }

  /** Changes an entry this node owns (libnetwork's UpdateEntry: a task's service_disabled). */
  updateEntry(network: string, table: string, key: string, value: Buffer): void {
    const e = this.tables.get(network)?.get(table)?.get(key);
    if (!e || e.owner !== this.nodeName || e.deleting) return;
    const lTime = ++this.tableClock;
    e.lTime = lTime;
    e.value = value;
    this.entriesVersion++;
    this.sendTableEvent({ type: TableEventType.UPDATE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value, residualReapTime: 0 });
  }

  deleteEntry(network: string, table: string, key: string): void {
    const e = this.tables.get(network)?.get(table)?.get(key);
    if (!e || e.owner !== this.nodeName || e.deleting) return;
    const lTime = ++this.tableClock;
    e.deleting = true;
    e.lTime = lTime;
    e.reapAt = performance.now() + this.cfg.reapEntryMs;
    this.entriesVersion++;
    // A delete carries the old value: Docker's overlay driver parses it to find what to remove.
    this.sendTableEvent({ type: TableEventType.DELETE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value: e.value, residualReapTime: Math.round(this.cfg.reapEntryMs / 1000) || 1 });
  }

  /** Publishes a local overlay endpoint for the other nodes' overlay drivers. */
  publishPeer(network: string, key: string, p: { ip: string; prefixLength: number; mac: string; vtep: string }): void {
    this.createEntry(network, OVERLAY_PEER_TABLE, key, peerRecord({ endpointIp: `${p.ip}/${p.prefixLength}`, endpointMac: p.mac, tunnelEndpointIp: p.vtep }));
  }

  /** Our own event: at once to every node on the network, then retransmitted by the gossip
   *  rounds to random ones until the limit. */
  private sendTableEvent(e: TableEvent): void {
    const msg = tableEvent(e);
    const packet = compound([msg]);
    for (const m of this.peersOn(e.networkId)) this.send(m, packet, 1);
    this.queueTableEvent(e, msg, 1);
  }

  private queueTableEvent(e: TableEvent, msg: Buffer, transmits: number): void {
    let q = this.tableQueues.get(e.networkId);
    if (!q) this.tableQueues.set(e.networkId, (q = new TransmitQueue(this.cfg.maxQueued)));
    this.drops.queueFull += q.push(`${e.tableName}\n${e.key}`, msg, transmits);
  }

  private sendNetworkEvent(type: number, lTime: bigint, network: string): void {
    const msg = networkEvent({ type, lTime, nodeName: this.nodeName, networkId: network });
    for (const m of this.ml?.alive() ?? []) {
      this.ml?.sendBestEffort(m, msg);
      this.counters.networkEventsOut++;
    }
    this.drops.queueFull += this.networkQueue.push(`${network}\n${this.nodeName}`, msg, 1);
  }

  private send(m: MemberState, packet: Buffer, events: number): void {
    this.ml?.sendBestEffort(m, packet);
    this.counters.tableEventsOut += events;
  }

  /** Splits events into compounds that fit a gossip packet. */
  private packets(msgs: readonly Buffer[]): Buffer[][] {
    const out: Buffer[][] = [];
    let cur: Buffer[] = [];
    let used = 0;
    for (const m of msgs) {
      if (cur.length > 0 && used + m.length + 4 > PACKET_BUDGET) {
        out.push(cur);
        cur = [];
        used = 0;
      }
      cur.push(m);
      used += m.length + 4;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** One gossip tick: queued table events to random nodes of each network, network events to
   *  random members. An event is spent after its retransmit limit whether or not anyone heard. */
  gossipRound(): void {
    for (const [nid, q] of this.tableQueues) {
      if (q.size === 0) {
        this.tableQueues.delete(nid);
        continue;
      }
      const peers = this.peersOn(nid);
      const limit = retransmitLimit(this.cfg.retransmitMult, peers.length + 1);
      for (const packet of q.round(PACKET_BUDGET, PACKETS_PER_ROUND, limit)) {
        const msg = compound(packet);
        for (const m of pickRandom(peers, GOSSIP_FANOUT)) this.send(m, msg, packet.length);
      }
    }
    if (this.networkQueue.size > 0) {
      const members = this.ml?.alive() ?? [];
      const limit = retransmitLimit(this.cfg.retransmitMult, members.length + 1);
      for (const packet of this.networkQueue.round(PACKET_BUDGET, PACKETS_PER_ROUND, limit)) {
        const msg = packet.length === 1 ? packet[0]! : compound(packet);
        for (const m of pickRandom(members, GOSSIP_FANOUT)) {
          this.ml?.sendBestEffort(m, msg);
          this.counters.networkEventsOut += packet.length;
        }
      }
    }
  }

  private async pushPullAll(): Promise<void> {
    await Promise.all(
      (this.ml?.alive() ?? []).map((m) => this.ml!.pushPull(m.address, m.port, false).catch((err: Error) => this.log('debug', 'gossip push-pull failed', { peer: m.name, err: err.message }))),
    );
  }

  /** Sends `networks`' entries to `m`; an unsolicited one waits for the answer (bounded).
   *  Resolves true once sent. */
  private async bulkSyncNode(networks: readonly string[], m: MemberState, unsolicited: boolean): Promise<boolean> {
    const msg = bulkSyncParts({ lTime: this.tableClock, unsolicited, nodeName: this.nodeName, networks: [...networks], payload: this.syncPayload(networks) });
    // Our own sync waits for the peer's answer (its entries), as Docker's does, so that
    // whoever waits for this join sees the network's endpoints — bounded, never a hang.
    const answered = unsolicited ? this.awaitBulkSync(m.name, this.cfg.bulkSyncWaitMs) : undefined;
    try {
      if (!this.ml) return false;
      await this.ml.sendReliable(m, msg);
      this.counters.bulkSyncsOut++;
      await answered?.promise;
      return true;
    } catch (err) {
      this.log('debug', 'gossip bulk sync failed', { peer: m.name, err: (err as Error).message });
      return false;
    } finally {
      answered?.cancel();
    }
  }

  /**
   * libnetwork's bulkSyncTables: for each network we are on, a bulk sync of every network we
   * share with one of two random peers, stopping at the first that takes it. A create, update
   * or delete lost on the way is repaired within one interval.
   */
  async periodicBulkSync(): Promise<void> {
    if (this.periodicSyncRunning || !this.ml) return;
    this.periodicSyncRunning = true;
    try {
      let pending = this.joinedNetworks();
      while (pending.length > 0) {
        const nid = pending.shift()!;
        for (const m of pickRandom(this.peersOn(nid), 2)) {
          const common = this.commonNetworks(m.name);
          if (!(await this.bulkSyncNode(common, m, true))) continue;
          this.counters.periodicBulkSyncs++;
          pending = pending.filter((n) => !common.includes(n));
          break;
        }
      }
    } finally {
      this.periodicSyncRunning = false;
    }
  }

  private commonNetworks(node: string): string[] {
    return this.joinedNetworks().filter((nid) => this.networkNodes.get(nid)?.get(node)?.leaving === false);
  }

  private awaitBulkSync(node: string, ms: number): { promise: Promise<void>; cancel(): void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const timer = setTimeout(resolve, ms);
    const waiters = this.bulkSyncWaiters.get(node) ?? new Set<() => void>();
    this.bulkSyncWaiters.set(node, waiters);
    const done = () => resolve();
    waiters.add(done);
    return {
      promise,
      cancel: () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.bulkSyncWaiters.delete(node);
      },
    };
  }

  private residualSeconds(e: Entry, now: number): number {
    return Math.max(1, Math.ceil((e.reapAt - now) / 1000));
  }

  /** `networks`' entries as a bulk sync's payload: the one encoded for the last sync when no
   *  entry changed since and it held no tombstone. */
  private syncPayload(networks: readonly string[]): Buffer {
    const id = networks.join('\n');
    const cached = this.syncPayloads.get(id);
    if (cached && cached.version === this.entriesVersion) return cached.payload;
    const counted = { tombstones: 0 };
    const payload = tableEventsCompound(this.entriesOf(networks, counted));
    this.syncPayloads.delete(id);
    if (counted.tombstones === 0) {
      // Dropped with the networks: any network left or joined changes the entries anyway, so the
      // stale ones are those of sets no longer synced; the map stays at the sets in use.
      for (const [other, c] of this.syncPayloads) if (c.version !== this.entriesVersion) this.syncPayloads.delete(other);
      this.syncPayloads.set(id, { version: this.entriesVersion, payload });
    }
    return payload;
  }

  /** `networks`' entries as table events (tombstones as DELETEs), walked without an object per
   *  entry: one event object, refilled for each (see tableEventsCompound). */
  private entriesOf(networks: readonly string[], counted: { tombstones: number }): TableEventSource {
    const now = performance.now();
    const tables = this.tables;
    const residual = (e: Entry) => this.residualSeconds(e, now);
    return (visit) => {
      const ev: TableEvent = { type: TableEventType.CREATE, lTime: 0n, nodeName: '', networkId: '', tableName: '', key: '', value: NO_VALUE, residualReapTime: 0 };
      for (const nid of networks) {
        ev.networkId = nid;
        tables.get(nid)?.forEach((keys, table) => {
          ev.tableName = table;
          keys.forEach((e, key) => {
            if (e.deleting) counted.tombstones++;
            ev.type = e.deleting ? TableEventType.DELETE : TableEventType.CREATE;
            ev.lTime = e.lTime;
            ev.nodeName = e.owner;
            ev.key = key;
            ev.value = e.value;
            ev.residualReapTime = e.deleting ? residual(e) : 0;
            visit(ev);
          });
        });
      }
    };
  }

  /** libnetwork's reapState: tombstones and left memberships past their time are forgotten;
   *  so are dead and left nodes past nodeReapMs. */
  reap(): void {
    const now = performance.now();
    // Every 5 s over every entry (20,000 at 10,000 endpoints): forEach, which makes no [key, entry]
    // pair per entry as for-of does (4 MB of garbage per 30 s at that size).
    this.tables.forEach((tables, nid) => {
      tables.forEach((keys, table) => {
        keys.forEach((e, key) => {
          if (!e.deleting || e.reapAt > now) return;
          keys.delete(key);
          this.entriesVersion++;
          this.counters.reaped++;
        });
        if (keys.size === 0) tables.delete(table);
      });
      if (tables.size === 0) this.tables.delete(nid);
    });
    for (const [nid, nodes] of this.networkNodes) {
      for (const [node, s] of nodes) {
        if (!s.leaving || s.reapAt > now) continue;
        nodes.delete(node);
        this.membershipVersion++;
      }
      if (nodes.size === 0) this.networkNodes.delete(nid);
    }
    for (const [name, s] of this.nodeStates) {
      if (s.state < STATE_DEAD || s.since + this.cfg.nodeReapMs > now) continue;
      this.nodeStates.delete(name);
      this.membershipVersion++;
      for (const id of this.appliedSyncs.keys()) if (id.startsWith(`${name}\n`)) this.appliedSyncs.delete(id);
    }
  }

  // ---- MemberlistDelegate ----

  localState(join: boolean): Buffer {
    if (join) {
      const lTime = ++this.networkClock;
      for (const nodes of this.networkNodes.values()) {
        const mine = nodes.get(this.nodeName);
        if (mine) mine.lTime = lTime;
      }
      this.membershipVersion++;
    }
    const networks = [];
    for (const [networkId, nodes] of this.networkNodes) for (const [nodeName, s] of nodes) networks.push({ networkId, nodeName, lTime: s.lTime, leaving: s.leaving });
    return pushPull({ lTime: this.networkClock, nodeName: this.nodeName, networks });
  }

  mergeRemoteState(state: Buffer, _join: boolean): void {
    try {
      const g = decodeGossip(state);
      if (g.type !== MessageType.PUSH_PULL) return;
      const pp = decodePushPull(g.data);
      this.witnessNetwork(pp.lTime);
      for (const n of pp.networks) this.applyNetworkEvent(n.nodeName, n.networkId, n.lTime, n.leaving);
    } catch (err) {
      this.drops.malformed++;
      this.log('debug', 'gossip push-pull state dropped', { err: (err as Error).message });
    }
  }

  notifyMsg(msg: Buffer): void {
    try {
      this.handleMessage(msg, false, 0);
    } catch (err) {
      this.drops.malformed++;
      this.log('debug', 'gossip message dropped', { err: (err as Error).message });
    }
  }

  /**
   * memberlist's view of a member. A suspect stays a member and touches nothing: suspicion is
   * what damps a flapping node. A dead or departed node loses its memberships and its entries at
   * once (libnetwork's deleteNodeFromNetworks and deleteNodeTableEntries: removed, not kept as
   * tombstones, so its CREATEs are taken again should it come back), and watchers hear it without
   * waiting for the settle window. One that comes back gets a push-pull and a bulk sync.
   */
  notifyMember(m: MemberState): void {
    const prev = this.nodeStates.get(m.name);
    this.nodeStates.set(m.name, { state: m.state, since: performance.now() });
    this.membershipVersion++;
    if (m.state <= STATE_SUSPECT) {
      if (m.state === STATE_ALIVE && prev && prev.state >= STATE_DEAD) void this.resync(m);
      return;
    }
    if (prev && prev.state >= STATE_DEAD) return;
    for (const nodes of this.networkNodes.values()) nodes.delete(m.name);
    for (const [nid, tables] of this.tables) {
      for (const [table, keys] of tables) {
        for (const [key, e] of keys) {
          if (e.owner !== m.name) continue;
          keys.delete(key);
          this.entriesVersion++;
          this.markDirty(nid, table, key);
        }
      }
    }
    this.flushChanges();
  }

  /** libnetwork's reconnectNode, for a node memberlist brought back: its memberships by
   *  push-pull, then both sides' entries on the networks we share. */
  private async resync(m: MemberState): Promise<void> {
    try {
      await this.ml?.pushPull(m.address, m.port, false);
    } catch (err) {
      this.log('debug', 'gossip push-pull with a returning node failed', { peer: m.name, err: (err as Error).message });
      return;
    }
    const common = this.commonNetworks(m.name);
    if (common.length > 0) await this.bulkSyncNode(common, m, true);
  }

  /** `buf` is valid only during the call (memberlist may reuse a stream's buffer): what is
   *  kept — entries' values, messages queued to be gossiped on — is copied out of it. */
  private handleMessage(buf: Buffer, fromBulkSync: boolean, depth: number): void {
    if (depth > 3) return;
    const g = decodeGossip(buf);
    switch (g.type) {
      case MessageType.NETWORK_EVENT: {
        const e = decodeNetworkEvent(g.data);
        this.witnessNetwork(e.lTime);
        if (e.nodeName === this.nodeName) return;
        this.counters.networkEventsIn++;
        // Re-gossiped only when it changed our state (libnetwork's handleNetworkMessage).
        if (this.applyNetworkEvent(e.nodeName, e.networkId, e.lTime, e.type === EventType.LEAVE)) {
          this.drops.queueFull += this.networkQueue.push(`${e.networkId}\n${e.nodeName}`, Buffer.from(buf), 0);
        }
        return;
      }
      case MessageType.TABLE_EVENT: {
        const e = decodeTableEvent(g.data);
        if (this.applyTableEvent(e, fromBulkSync)) {
          const q = this.tableQueues.get(e.networkId);
          if (fromBulkSync && q && q.size > MAX_QUEUE_REBROADCAST_ON_SYNC) return;
          this.queueTableEvent(e, Buffer.from(buf), 0);
          this.counters.tableEventsRebroadcast++;
        }
        return;
      }
      case MessageType.COMPOUND:
        for (const part of compoundParts(g.data)) {
          try {
            this.handleMessage(part, fromBulkSync, depth + 1);
          } catch (err) {
            // One bad part does not cost the others.
            this.drops.malformed++;
            this.log('debug', 'gossip message dropped', { err: (err as Error).message });
          }
        }
        return;
      case MessageType.BULK_SYNC: {
        const b = decodeBulkSync(g.data);
        this.counters.bulkSyncsIn++;
        this.witnessTable(b.lTime);
        if (b.payload.length > 0) this.applyBulkSyncPayload(b, depth);
        if (b.unsolicited) {
          // Docker's JoinNetwork waits for our answer (30 s per node without one). A reply goes
          // to the asker by name, whether or not its network JOIN has reached us yet.
          const asker = this.ml?.member(b.nodeName);
          if (asker && asker.state <= STATE_SUSPECT) void this.bulkSyncNode(b.networks, asker, false);
        } else {
          for (const w of this.bulkSyncWaiters.get(b.nodeName) ?? []) w();
        }
        return;
      }
      default:
        return; // node events and push-pull state need nothing from us here
    }
  }

  private applyBulkSyncPayload(b: BulkSync, depth: number): void {
    const id = `${b.nodeName}\n${b.networks.join('\n')}`;
    const digest = createHash('sha256').update(b.payload).digest();
    const last = this.appliedSyncs.get(id);
    if (last && last.entries === this.entriesVersion && last.memberships === this.membershipVersion && last.digest.equals(digest)) {
      this.counters.bulkSyncsUnchanged++;
      return;
    }
    this.handleMessage(b.payload, true, depth + 1);
    this.appliedSyncs.set(id, { digest, entries: this.entriesVersion, memberships: this.membershipVersion });
  }

  /** A node's join or leave of a network; true when it changed what we knew. */
  private applyNetworkEvent(node: string, network: string, lTime: bigint, leaving: boolean): boolean {
    if (node === this.nodeName) return false;
    const nodes = this.networkNodes.get(network);
    const prev = nodes?.get(node);
    if (prev && lTime <= prev.lTime) {
      this.drops.staleLTime++;
      return false;
    }
    // A leave of a membership never heard of changes nothing.
    if (!prev && leaving) return false;
    // libnetwork keeps state only for nodes memberlist knows: it hears when those die.
    const member = this.ml?.member(node);
    if (this.ml && (!member || member.state >= STATE_DEAD)) {
      this.drops.unknownNode++;
      return false;
    }
    const now = performance.now();
    this.nodesOf(network).set(node, { node: prev?.node ?? node, lTime, leaving, reapAt: leaving ? now + this.cfg.reapNetworkMs : Infinity });
    this.membershipVersion++;
    if (leaving) {
      // Tombstones, so a bulk sync from a node that missed the leave does not bring them back.
      for (const [table, keys] of this.tables.get(network) ?? []) {
        for (const [key, e] of keys) {
          if (e.owner !== node || e.deleting) continue;
          e.deleting = true;
          e.reapAt = now + this.cfg.reapEntryMs;
          this.entriesVersion++;
          this.markDirty(network, table, key);
        }
      }
    }
    return true;
  }

  /** Stores another node's table event; true when it should be re-gossiped. */
  private applyTableEvent(e: TableEvent, fromBulkSync: boolean): boolean {
    this.witnessTable(e.lTime);
    if (e.nodeName === this.nodeName) return false;
    const mine = this.networkNodes.get(e.networkId)?.get(this.nodeName);
    if (!mine || mine.leaving) {
      this.drops.unknownNetwork++;
      return false;
    }
    const owner = this.networkNodes.get(e.networkId)?.get(e.nodeName);
    if (owner?.leaving !== false) {
      this.drops.notMember++;
      return false;
    }
    const keys = this.tableOf(e.networkId, e.tableName);
    const prev = keys.get(e.key);
    if (prev && e.lTime <= prev.lTime) {
      this.drops.staleLTime++;
      return false;
    }
    const deleting = e.type === TableEventType.DELETE;
    if (!deleting && e.tableName === OVERLAY_PEER_TABLE && !endpointOf(e.networkId, e.key, e.value)) this.drops.malformedValue++;
    this.counters.tableEventsIn++;
    const now = performance.now();
    // A delete's residual reap time is the sender's; never longer than ours.
    const reapMs = e.residualReapTime > 0 ? Math.min(e.residualReapTime * 1000, this.cfg.reapEntryMs) : this.cfg.reapEntryMs;
    // The value is copied out of the message it came in: a view would hold the whole message (a
    // bulk sync's is megabytes) for as long as any one of its entries lives.
    keys.set(e.key, { owner: owner.node, lTime: e.lTime, value: Buffer.from(e.value), deleting, reapAt: deleting ? now + reapMs : Infinity });
    this.entriesVersion++;
    if (deleting && !prev) {
      // A delete for a key we never had. libnetwork ignores one that came by gossip; berth keeps
      // it as a tombstone too, so a CREATE of the same key arriving after it (UDP reorders, a
      // retransmission outlives the delete) cannot bring back an entry already gone. Re-gossiped
      // only from a bulk sync and while young (libnetwork: residual reap time > 1/6 of the total).
      return fromBulkSync && this.inSync.has(e.networkId) && reapMs > this.cfg.reapEntryMs / 6;
    }
    this.markDirty(e.networkId, e.tableName, e.key);
    return this.inSync.has(e.networkId);
  }

  /**
   * Other nodes' entries of `table` as they come and go (endpoint_table for the DNS, say).
   * Changes are coalesced per key: `settleMs` after a key first changes, its watchers get the
   * difference between what they were last told and the entry's state then — nothing when an
   * entry flapped back, one remove + add when its value changed, never one per message.
   */
  watchTable(table: string, fn: (change: TableChange) => void): () => void {
    const listener = (c: TableChange) => {
      if (c.table === table) fn(c);
    };
    this.events.on('entry', listener);
    return () => this.events.off('entry', listener);
  }

  /** Other nodes' live entries of `table` on `network`. */
  *entries(network: string, table: string): Iterable<{ key: string; value: Buffer }> {
    for (const [key, e] of this.tables.get(network)?.get(table) ?? []) if (!e.deleting && e.owner !== this.nodeName) yield { key, value: e.value };
  }

  /** The gossip address of a member (undefined when unknown). */
  memberAddress(name: string): string | undefined {
    return this.ml?.member(name)?.address;
  }

  private markDirty(network: string, table: string, key: string): void {
    this.dirty.set(`${network}\n${table}\n${key}`, [network, table, key]);
    if (this.cfg.settleMs <= 0) return this.flushChanges();
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = undefined;
      this.flushChanges();
    }, this.cfg.settleMs).unref();
  }

  /** Delivers every pending change to the watchers now. */
  flushChanges(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    const batch = [...this.dirty];
    this.dirty.clear();
    for (const [, [network, table, key]] of batch) {
      const e = this.tables.get(network)?.get(table)?.get(key);
      const now = e && !e.deleting && e.owner !== this.nodeName ? e : undefined;
      const was = this.delivered.get(network)?.get(table)?.get(key);
      if (!was && !now) continue;
      if (was && now && was.owner === now.owner && was.value.equals(now.value)) continue;
      try {
        if (was) {
          this.forgetDelivered(network, table, key);
          this.emitEntry(table, 'remove', network, key, was.value, was.owner);
        }
        if (now) {
          this.deliveredOf(network, table).set(key, now);
          this.emitEntry(table, 'add', network, key, now.value, now.owner);
        }
      } catch (err) {
        this.log('warn', 'a gossip table watcher failed', { table, key, err: (err as Error).message });
      }
    }
  }

  private deliveredOf(network: string, table: string): Map<string, Entry> {
    let t = this.delivered.get(network);
    if (!t) this.delivered.set(network, (t = new Map()));
    let k = t.get(table);
    if (!k) t.set(table, (k = new Map()));
    return k;
  }

  private forgetDelivered(network: string, table: string, key: string): void {
    const t = this.delivered.get(network);
    const k = t?.get(table);
    if (!t || !k) return;
    k.delete(key);
    if (k.size > 0) return;
    t.delete(table);
    if (t.size === 0) this.delivered.delete(network);
  }

  private emitEntry(table: string, kind: 'add' | 'remove', network: string, key: string, value: Buffer, owner: string): void {
    if (table === OVERLAY_PEER_TABLE) {
      const ep = endpointOf(network, key, value);
      if (ep) this.events.emit(kind === 'add' ? 'endpoint-added' : 'endpoint-removed', ep);
    }
    this.events.emit('entry', { table, owner, kind, network, key, value } satisfies TableChange);
  }

  private nodesOf(network: string): Map<string, Membership> {
    let m = this.networkNodes.get(network);
    if (!m) this.networkNodes.set(network, (m = new Map()));
    return m;
  }

  private tableOf(network: string, table: string): Map<string, Entry> {
    let t = this.tables.get(network);
    if (!t) this.tables.set(network, (t = new Map()));
    let k = t.get(table);
    if (!k) t.set(table, (k = new Map()));
    return k;
  }

  private witnessNetwork(v: bigint): void {
    if (v >= this.networkClock) this.networkClock = v + 1n;
  }

  private witnessTable(v: bigint): void {
    if (v >= this.tableClock) this.tableClock = v + 1n;
  }
}
