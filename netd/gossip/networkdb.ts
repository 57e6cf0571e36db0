// NetworkDB as libnetwork runs it between Docker nodes (docs/research/networkdb-gossip-facts.md
// §3–5), on top of gossip/memberlist.ts: which node is on which overlay network (network
// events, push-pull state), and the per-network tables (table events, bulk sync). berth
// publishes its own endpoints in `overlay_peer_table` and turns everyone else's into netd's
// ClusterTables, so tasks on berth and on Docker nodes reach each other over VXLAN.
import { EventEmitter } from 'node:events';
import type { ClusterTables, Endpoint, EndpointEvent } from '../types.js';
import type { LogFn } from '../../base/index.js';
import {
  EventType,
  MessageType,
  TableEventType,
  bulkSync,
  compound,
  decodeBulkSync,
  decodeCompound,
  decodeGossip,
  decodeNetworkEvent,
  decodePeerRecord,
  decodePushPull,
  decodeTableEvent,
  networkEvent,
  peerRecord,
  pushPull,
  tableEvent,
  type TableEvent,
} from './messages.js';
import type { MemberState, Memberlist, MemberlistDelegate } from './memberlist.js';

export const OVERLAY_PEER_TABLE = 'overlay_peer_table';
export const ENDPOINT_TABLE = 'endpoint_table';
/** How long a deleted entry is remembered (libnetwork's reapEntryInterval). */
const REAP_SECONDS = 1800;
/** Table events are sent this many times, RETRANSMIT_MS apart (UDP best effort, as Docker's). */
const RETRANSMITS = 3;
const RETRANSMIT_MS = 200;
/** How long a join waits for a peer's answering bulk sync (Docker waits 30 s). */
const BULK_SYNC_WAIT_MS = 5_000;

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
  owner: string;
  lTime: bigint;
  value: Buffer;
  deleting: boolean;
}

export interface NetworkDbStats {
  networks: number;
  entries: number;
  tableEventsIn: number;
  tableEventsOut: number;
  bulkSyncsIn: number;
  bulkSyncsOut: number;
  dropped: number;
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

export class NetworkDb implements MemberlistDelegate, ClusterTables {
  private ml: Memberlist | undefined;
  private networkClock = 0n;
  private tableClock = 0n;
  /** network id → node name → its latest join/leave. Ours included. */
  private readonly networkNodes = new Map<string, Map<string, { lTime: bigint; leaving: boolean }>>();
  /** network id → table → key → entry (ours and others'). */
  private readonly tables = new Map<string, Map<string, Map<string, Entry>>>();
  private readonly events = new EventEmitter();
  private readonly bulkSyncWaiters = new Map<string, Set<() => void>>();
  private readonly counters = { tableEventsIn: 0, tableEventsOut: 0, bulkSyncsIn: 0, bulkSyncsOut: 0, dropped: 0 };

  constructor(
    readonly nodeName: string,
    private readonly log: LogFn = () => undefined,
  ) {}

  attach(ml: Memberlist): void {
    this.ml = ml;
  }

  stats(): NetworkDbStats {
    let entries = 0;
    for (const t of this.tables.values()) for (const k of t.values()) entries += k.size;
    return { networks: [...this.networkNodes.values()].filter((n) => n.get(this.nodeName)?.leaving === false).length, entries, ...this.counters };
  }

  /** Nodes (other than us) on a network, with their gossip addresses. */
  peersOn(network: string): MemberState[] {
    const out: MemberState[] = [];
    for (const [name, s] of this.networkNodes.get(network) ?? []) {
      if (name === this.nodeName || s.leaving) continue;
      const m = this.ml?.member(name);
      if (m && m.state === 0) out.push(m);
    }
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

  /** Announces that this node is on `network`, then exchanges table state with its members. */
  async joinNetwork(network: string): Promise<void> {
    const mine = this.networkNodes.get(network)?.get(this.nodeName);
    if (mine && !mine.leaving) return;
    const lTime = ++this.networkClock;
    this.nodesOf(network).set(this.nodeName, { lTime, leaving: false });
    const msg = networkEvent({ type: EventType.JOIN, lTime, nodeName: this.nodeName, networkId: network });
    for (const m of this.ml?.alive() ?? []) this.ml?.sendBestEffort(m, msg);
    // A push-pull carries the join reliably (peers drop table events from nodes they do not know
    // are on the network), then a bulk sync swaps the network's entries both ways.
    await Promise.all((this.ml?.alive() ?? []).map((m) => this.ml!.pushPull(m.address, m.port, false).catch((err: Error) => this.log('debug', 'gossip push-pull failed', { peer: m.name, err: err.message }))));
    await this.bulkSyncTo(network, true);
  }

  leaveNetwork(network: string): void {
    const mine = this.networkNodes.get(network)?.get(this.nodeName);
    if (!mine || mine.leaving) return;
    for (const [, keys] of this.tables.get(network) ?? []) for (const [, e] of keys) if (e.owner === this.nodeName) e.deleting = true;
    const lTime = ++this.networkClock;
    this.nodesOf(network).set(this.nodeName, { lTime, leaving: true });
    const msg = networkEvent({ type: EventType.LEAVE, lTime, nodeName: this.nodeName, networkId: network });
    for (const m of this.ml?.alive() ?? []) this.ml?.sendBestEffort(m, msg);
  }

  createEntry(network: string, table: string, key: string, value: Buffer): void {
    const lTime = ++this.tableClock;
    this.tableOf(network, table).set(key, { owner: this.nodeName, lTime, value, deleting: false });
    this.broadcastTableEvent({ type: TableEventType.CREATE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value, residualReapTime: 0 });
  }

  /** Changes an entry this node owns (libnetwork's UpdateEntry: a task's service_disabled). */
  updateEntry(network: string, table: string, key: string, value: Buffer): void {
    const e = this.tables.get(network)?.get(table)?.get(key);
    if (!e || e.owner !== this.nodeName || e.deleting) return;
    const lTime = ++this.tableClock;
    e.lTime = lTime;
    e.value = value;
    this.broadcastTableEvent({ type: TableEventType.UPDATE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value, residualReapTime: 0 });
  }

  deleteEntry(network: string, table: string, key: string): void {
    const e = this.tables.get(network)?.get(table)?.get(key);
    if (!e || e.owner !== this.nodeName || e.deleting) return;
    const lTime = ++this.tableClock;
    e.deleting = true;
    e.lTime = lTime;
    // A delete carries the old value: Docker's overlay driver parses it to find what to remove.
    this.broadcastTableEvent({ type: TableEventType.DELETE, lTime, nodeName: this.nodeName, networkId: network, tableName: table, key, value: e.value, residualReapTime: REAP_SECONDS });
  }

  /** Publishes a local overlay endpoint for the other nodes' overlay drivers. */
  publishPeer(network: string, key: string, p: { ip: string; prefixLength: number; mac: string; vtep: string }): void {
    this.createEntry(network, OVERLAY_PEER_TABLE, key, peerRecord({ endpointIp: `${p.ip}/${p.prefixLength}`, endpointMac: p.mac, tunnelEndpointIp: p.vtep }));
  }

  private broadcastTableEvent(e: TableEvent): void {
    const msg = compound([tableEvent(e)]);
    const send = () => {
      for (const m of this.peersOn(e.networkId)) {
        this.ml?.sendBestEffort(m, msg);
        this.counters.tableEventsOut++;
      }
    };
    send();
    for (let i = 1; i < RETRANSMITS; i++) setTimeout(send, i * RETRANSMIT_MS).unref();
  }

  private async bulkSyncTo(network: string, unsolicited: boolean, only?: string): Promise<void> {
    // A reply goes to the asker by name, whether or not its network JOIN has reached us yet (Docker's
    // JoinNetwork sends its bulk sync right after queueing the JOIN gossip, and waits 30 s for us).
    const asker = only === undefined ? undefined : this.ml?.member(only);
    const peers = only === undefined ? this.peersOn(network) : asker && asker.state === 0 ? [asker] : [];
    const payload = compound(this.entriesOf([network]));
    const msg = bulkSync({ lTime: this.tableClock, unsolicited, nodeName: this.nodeName, networks: [network], payload });
    await Promise.all(
      peers.map(async (m) => {
        // Our own sync waits for the peer's answer (its entries), as Docker's does, so that
        // whoever waits for this join sees the network's endpoints — bounded, never a hang.
        const answered = unsolicited ? this.awaitBulkSync(m.name, BULK_SYNC_WAIT_MS) : undefined;
        try {
          await this.ml?.sendReliable(m, msg);
          this.counters.bulkSyncsOut++;
          await answered?.promise;
        } catch (err) {
          this.log('debug', 'gossip bulk sync failed', { peer: m.name, err: (err as Error).message });
        } finally {
          answered?.cancel();
        }
      }),
    );
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

  private entriesOf(networks: readonly string[]): Buffer[] {
    const out: Buffer[] = [];
    for (const nid of networks) {
      for (const [table, keys] of this.tables.get(nid) ?? []) {
        for (const [key, e] of keys) {
          out.push(tableEvent({ type: e.deleting ? TableEventType.DELETE : TableEventType.CREATE, lTime: e.lTime, nodeName: e.owner, networkId: nid, tableName: table, key, value: e.value, residualReapTime: e.deleting ? REAP_SECONDS : 0 }));
        }
      }
    }
    return out;
  }

  // ---- MemberlistDelegate ----

  localState(join: boolean): Buffer {
    if (join) {
      const lTime = ++this.networkClock;
      for (const nodes of this.networkNodes.values()) {
        const mine = nodes.get(this.nodeName);
        if (mine) mine.lTime = lTime;
      }
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
      this.counters.dropped++;
      this.log('debug', 'gossip push-pull state dropped', { err: (err as Error).message });
    }
  }

  notifyMsg(msg: Buffer): void {
    try {
      this.handleMessage(msg, false, 0);
    } catch (err) {
      this.counters.dropped++;
      this.log('debug', 'gossip message dropped', { err: (err as Error).message });
    }
  }

  notifyMember(m: MemberState): void {
    if (m.state === 0) return;
    // A node gone for good: its network memberships go, and with them its endpoints.
    for (const [nid, nodes] of this.networkNodes) {
      if (!nodes.has(m.name)) continue;
      nodes.delete(m.name);
      for (const [table, keys] of this.tables.get(nid) ?? []) {
        for (const [key, e] of keys) {
          if (e.owner !== m.name) continue;
          keys.delete(key);
          if (!e.deleting) this.emitEntry(table, 'remove', nid, key, e.value, e.owner);
        }
      }
    }
  }

  private handleMessage(buf: Buffer, fromBulkSync: boolean, depth: number): void {
    if (depth > 3) return;
    const g = decodeGossip(buf);
    switch (g.type) {
      case MessageType.NETWORK_EVENT: {
        const e = decodeNetworkEvent(g.data);
        this.witnessNetwork(e.lTime);
        if (e.nodeName !== this.nodeName) this.applyNetworkEvent(e.nodeName, e.networkId, e.lTime, e.type === EventType.LEAVE);
        return;
      }
      case MessageType.TABLE_EVENT:
        return this.applyTableEvent(decodeTableEvent(g.data), fromBulkSync);
      case MessageType.COMPOUND:
        for (const part of decodeCompound(g.data)) this.handleMessage(part, fromBulkSync, depth + 1);
        return;
      case MessageType.BULK_SYNC: {
        const b = decodeBulkSync(g.data);
        this.counters.bulkSyncsIn++;
        this.witnessTable(b.lTime);
        if (b.payload.length > 0) this.handleMessage(b.payload, true, depth + 1);
        // Docker's JoinNetwork waits for our answer (30 s per node without one).
        if (b.unsolicited) for (const nid of b.networks) void this.bulkSyncTo(nid, false, b.nodeName);
        else for (const w of this.bulkSyncWaiters.get(b.nodeName) ?? []) w();
        return;
      }
      default:
        return; // node events and push-pull state need nothing from us here
    }
  }

  private applyNetworkEvent(node: string, network: string, lTime: bigint, leaving: boolean): void {
    if (node === this.nodeName) return;
    const nodes = this.nodesOf(network);
    const prev = nodes.get(node);
    if (prev && lTime <= prev.lTime) return;
    nodes.set(node, { lTime, leaving });
    if (leaving) {
      for (const [table, keys] of this.tables.get(network) ?? []) {
        for (const [key, e] of keys) {
          if (e.owner !== node || e.deleting) continue;
          e.deleting = true;
          this.emitEntry(table, 'remove', network, key, e.value, e.owner);
        }
      }
    }
  }

  private applyTableEvent(e: TableEvent, fromBulkSync: boolean): void {
    this.witnessTable(e.lTime);
    if (e.nodeName === this.nodeName) return;
    const mine = this.networkNodes.get(e.networkId)?.get(this.nodeName);
    if (!mine || mine.leaving) return;
    const keys = this.tableOf(e.networkId, e.tableName);
    const prev = keys.get(e.key);
    if (prev && e.lTime <= prev.lTime) return;
    const deleting = e.type === TableEventType.DELETE;
    if (deleting && !prev && !fromBulkSync) return;
    this.counters.tableEventsIn++;
    keys.set(e.key, { owner: e.nodeName, lTime: e.lTime, value: e.value, deleting });
    if (deleting) {
      if (prev && !prev.deleting) this.emitEntry(e.tableName, 'remove', e.networkId, e.key, prev.value, prev.owner);
    } else {
      // An update replaces: take the old entry away first.
      if (prev && !prev.deleting && !prev.value.equals(e.value)) this.emitEntry(e.tableName, 'remove', e.networkId, e.key, prev.value, prev.owner);
      if (!prev || prev.deleting || !prev.value.equals(e.value)) this.emitEntry(e.tableName, 'add', e.networkId, e.key, e.value, e.nodeName);
    }
  }

  /** Other nodes' entries of `table` as they come and go (endpoint_table for the DNS, say). */
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

  private emitEntry(table: string, kind: 'add' | 'remove', network: string, key: string, value: Buffer, owner: string): void {
    if (table === OVERLAY_PEER_TABLE) {
      const ep = endpointOf(network, key, value);
      if (ep) this.events.emit(kind === 'add' ? 'endpoint-added' : 'endpoint-removed', ep);
    }
    this.events.emit('entry', { table, owner, kind, network, key, value } satisfies TableChange);
  }

  private nodesOf(network: string): Map<string, { lTime: bigint; leaving: boolean }> {
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
