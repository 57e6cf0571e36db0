// This node's task endpoints in the cluster's gossip, and other nodes' back: each local endpoint
// is announced in overlay_peer_table (where its VXLAN peers learn it) and endpoint_table (where
// their resolvers learn its names), as Docker nodes do; other nodes' endpoint_table entries come
// back as name records. Their overlay_peer_table entries go straight to the overlay plane, which
// follows the gossip's tables itself.
import { createHash } from 'node:crypto';
import { ENDPOINT_TABLE, OVERLAY_PEER_TABLE, decodeEndpointRecord, endpointRecord, type EndpointRecord, type Gossip } from '../gossip/index.js';
import type { LogFn } from '../../base/index.js';
import type { EndpointNames } from './task-networks.js';

export interface LocalEndpoint {
  ip: string;
  prefixLength: number;
  mac: string;
}

/** What the controller does with another node's endpoint_table entries. */
export interface RemoteNames {
  set(network: string, key: string, record: EndpointRecord): void;
  remove(network: string, key: string): void;
}

export class ClusterEndpoints {
  /** Keys announced and not withdrawn: an announcement waits for the gossip to start (the keys
   *  come with the session), and one withdrawn meanwhile is never sent. */
  private readonly wanted = new Set<string>();
  /** The endpoint_table record of each announced key, so a health change can update it. */
  private readonly records = new Map<string, { network: string; record: EndpointRecord }>();
  /** The keys announced per network: the last one withdrawn takes the node off the network. */
  private readonly networks = new Map<string, Set<string>>();

  constructor(
    private readonly gossip: Gossip,
    private readonly advertiseAddress: string,
    private readonly log: LogFn,
  ) {}

  /**
   * Keys carry the gossip node name: a restarted agentd is a new gossip node whose entries must
   * not collide with its former self's, which the cluster keeps until it declares it dead.
   */
  private gossipKey(key: string): string {
    return createHash('sha256').update(`${this.gossip.nodeName}/${key}`).digest('hex');
  }

  /**
   * Announces a task endpoint (overlay_peer_table + endpoint_table), or with `names` undefined
   * only a peer: this node's load-balancer address, which other nodes' backends reply to
   * (Docker announces its lb endpoint the same way, without names).
   */
  publish(network: string, key: string, ep: LocalEndpoint, names: EndpointNames | undefined, opts: { disabled?: boolean } = {}): void {
    this.wanted.add(key);
    this.keysOn(network).add(key);
    const record = names && { ...names, endpointIp: ep.ip, serviceDisabled: opts.disabled === true };
    if (record) this.records.set(key, { network, record });
    const { gossip } = this;
    void gossip.track(
      gossip.whenStarted().then(async () => {
        if (!this.wanted.has(key)) return;
        const entryKey = this.gossipKey(key);
        // The join goes out first: peers drop table events from a node they do not know is on
        // the network (as libnetwork's do); the join's bulk sync carries the entries either way.
        const joined = gossip.db.joinNetwork(network);
        gossip.db.publishPeer(network, entryKey, { ...ep, vtep: this.advertiseAddress });
        const current = this.records.get(key)?.record;
        if (current) gossip.db.createEntry(network, ENDPOINT_TABLE, entryKey, endpointRecord(current));
        await joined;
      }),
    );
  }

  /** Every live endpoint_table entry in the gossip, this node's included, decoded for a reader
   *  (agentctl peers --endpoints); [] until the gossip runs. */
  entries(networkName: (id: string) => string | undefined): EndpointEntryView[] {
    if (!this.gossip.running) return [];
    return this.gossip.db.liveEntries(ENDPOINT_TABLE).map((e) => {
      let r: EndpointRecord | undefined;
      try {
        r = decodeEndpointRecord(e.value);
      } catch {
        r = undefined;
      }
      return { network: e.network, networkName: networkName(e.network), owner: e.owner, name: r?.name ?? '(malformed)', service: r?.serviceName ?? '', ip: r?.endpointIp ?? '', disabled: r?.serviceDisabled ?? false };
    });
  }

  /** Health crosses nodes: the entry's service_disabled follows the task's health (and its
   *  shutdown), so other nodes stop sending it new connections. */
  setDisabled(key: string, disabled: boolean): void {
    const r = this.records.get(key);
    if (!r || r.record.serviceDisabled === disabled) return;
    r.record = { ...r.record, serviceDisabled: disabled };
    if (!this.gossip.running || !this.wanted.has(key)) return;
    this.gossip.db.updateEntry(r.network, ENDPOINT_TABLE, this.gossipKey(key), endpointRecord(r.record));
  }

  /**
   * Withdraws an endpoint; when it was this node's last on the network (tasks and its LB
   * address), the node leaves the network in NetworkDB too, as a Docker node does when it
   * deletes the network locally.
   */
  withdraw(network: string, key: string): void {
    this.wanted.delete(key);
    this.records.delete(key);
    const keys = this.keysOn(network);
    keys.delete(key);
    const last = keys.size === 0;
    if (last) this.networks.delete(network);
    if (!this.gossip.running) return;
    const entryKey = this.gossipKey(key);
    this.gossip.db.deleteEntry(network, OVERLAY_PEER_TABLE, entryKey);
    this.gossip.db.deleteEntry(network, ENDPOINT_TABLE, entryKey);
    if (last) void this.gossip.leaveNetwork(network);
  }

  private keysOn(network: string): Set<string> {
    let keys = this.networks.get(network);
    if (!keys) this.networks.set(network, (keys = new Set()));
    return keys;
  }

  /** Other nodes' tasks resolve by name here too (service, tasks.<svc>, task name). */
  watchNames(names: RemoteNames): () => void {
    const { db } = this.gossip;
    return db.watchTable(ENDPOINT_TABLE, (c) => {
      if (c.kind === 'remove') return names.remove(c.network, c.key);
      // This host's former gossip self (before a restart) still announces our own tasks.
      if (db.memberAddress(c.owner) === this.advertiseAddress) return;
      let record: EndpointRecord;
      try {
        record = decodeEndpointRecord(c.value);
      } catch (err) {
        this.log('debug', 'endpoint_table entry dropped', { key: c.key, err: (err as Error).message });
        return;
      }
      if (!record.name || !record.serviceId || !record.endpointIp) return;
      names.set(c.network, c.key, record);
    });
  }
}

/** One endpoint_table entry as a reader sees it: who announced which task name on which network. */
export interface EndpointEntryView {
  network: string;
  networkName: string | undefined;
  /** The gossip node that owns the entry. */
  owner: string;
  name: string;
  service: string;
  ip: string;
  disabled: boolean;
}
