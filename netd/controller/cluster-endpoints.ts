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
   * Withdraws an endpoint. The node stays on the network in NetworkDB even after its last
   * endpoint there: NetworkDB's leave works (gossip/networkdb.ts, its tests), but a node that
   * left and joined again within seconds — a task failing and its replacement arriving, the
   * manager taking the node's LB address away and back meanwhile — did not get the other
   * nodes' entries back, and its replies to their load balancers went nowhere
   * (test/interop/health-across-nodes.test.ts). Until that re-join is fixed, no leave.
   */
  withdraw(network: string, key: string): void {
    this.wanted.delete(key);
    this.records.delete(key);
    if (!this.gossip.running) return;
    const entryKey = this.gossipKey(key);
    this.gossip.db.deleteEntry(network, OVERLAY_PEER_TABLE, entryKey);
    this.gossip.db.deleteEntry(network, ENDPOINT_TABLE, entryKey);
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
