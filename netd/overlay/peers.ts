// The peer table of each overlay network, as libnetwork's peerdb: remote endpoints, refcounted,
// programmed as a permanent neighbour (ARP proxy) and an FDB entry (MAC → VTEP) on vxlan0.
import { NetlinkOperationError } from '../errors.js';
import { ipv4Bytes, ipv4FromBytes, macBytes, macFromBytes, parseIpv4 } from '../ipv4.js';
import type { ClusterTables, Endpoint, NetworkId, ReconcileReport } from '../types.js';
import { emptyReport, type NetworkState, type OverlayContext, type ProgrammedNetwork } from './context.js';
import { EndpointTable, diffTables, emptyTables, isEmptyDiff, type KernelTables, type TableDiff } from './endpoints.js';
import { GONE } from './kernel.js';
import { VXLAN_NAME } from './naming.js';
import { AF_BRIDGE, AF_INET, NUD_PERMANENT, deleteNeighbourRequest, errnoName, setNeighbourRequest, type RawRequest } from './rtnl.js';
import { normalizeEndpoint, type RemoteEndpoint } from './validate.js';

interface EndpointOp {
  kind: 'add' | 'remove';
  e: RemoteEndpoint;
}

/** vxlan0's permanent neighbours (IP → MAC), the kind berth writes there. */
function kernelNeighbours(p: ProgrammedNetwork, visit: (ip: string, mac: string) => void): Promise<void> {
  return p.rtnl.forEachNeighbour(AF_INET, p.vxlanIndex, (nud, dst, lladdr) => {
    if (nud & NUD_PERMANENT && dst && lladdr) visit(ipv4FromBytes(dst), macFromBytes(lladdr));
  });
}

/** vxlan0's FDB entries with a remote (MAC → VTEP), the kind berth writes there. */
function kernelFdb(p: ProgrammedNetwork, visit: (mac: string, vtep: string) => void): Promise<void> {
  return p.rtnl.forEachNeighbour(AF_BRIDGE, p.vxlanIndex, (_nud, dst, lladdr) => {
    if (dst && lladdr) visit(macFromBytes(lladdr), ipv4FromBytes(dst));
  });
}

export class Peers {
  private readonly endpoints = new Map<NetworkId, EndpointTable>();
  private pendingEndpoints: Array<EndpointOp & { done: (err?: Error) => void }> = [];
  private tables: ClusterTables | undefined;

  constructor(private readonly ctx: OverlayContext) {}

  endpointTable(id: NetworkId): EndpointTable {
    let t = this.endpoints.get(id);
    if (!t) this.endpoints.set(id, (t = new EndpointTable()));
    return t;
  }

  /** Number of remote endpoints known for the network (for status). */
  size(id: NetworkId): number | undefined {
    return this.endpoints.get(id)?.size;
  }

  /** Drops the network's table when the network is retired. */
  forget(id: NetworkId): void {
    this.endpoints.delete(id);
  }

  private isLocal(e: RemoteEndpoint): boolean {
    return e.vtep === this.ctx.options.advertiseAddress;
  }

  private rejected = 0;

  addRemoteEndpoint(e: Endpoint): Promise<void> {
    return this.queueEndpoints([{ kind: 'add', e: normalizeEndpoint(e) }]);
  }

  removeRemoteEndpoint(e: Endpoint): Promise<void> {
    return this.queueEndpoints([{ kind: 'remove', e: normalizeEndpoint(e) }]);
  }

  /** Many changes at once; all are validated before any is applied. */
  applyEndpoints(added: readonly Endpoint[], removed: readonly Endpoint[] = []): Promise<void> {
    const ops: EndpointOp[] = [...added.map((e) => ({ kind: 'add' as const, e: normalizeEndpoint(e) })), ...removed.map((e) => ({ kind: 'remove' as const, e: normalizeEndpoint(e) }))];
    return this.queueEndpoints(ops);
  }

  /** Changes queue up while a flush runs, so a burst of single adds becomes one netlink batch. */
  private queueEndpoints(ops: EndpointOp[]): Promise<void> {
    this.ctx.assertOpen();
    const relevant = ops.filter((op) => !this.isLocal(op.e));
    if (relevant.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = relevant.length;
      let failure: Error | undefined;
      const done = (err?: Error) => {
        failure ??= err;
        if (--left !== 0) return;
        if (failure) reject(failure);
        else resolve();
      };
      const first = this.pendingEndpoints.length === 0;
      for (const op of relevant) this.pendingEndpoints.push({ ...op, done });
      if (first) void this.ctx.locked(() => this.flushEndpoints());
    });
  }

  /** Runs under the lock. */
  async flushEndpoints(): Promise<void> {
    const batch = this.pendingEndpoints;
    this.pendingEndpoints = [];
    if (batch.length === 0) return;
    const touched = new Set<NetworkId>();
    for (const op of batch) {
      const table = this.endpointTable(op.e.network);
      if (op.kind === 'add' ? table.add(op.e) : table.remove(op.e)) touched.add(op.e.network);
    }
    const errors = new Map<NetworkId, Error>();
    await Promise.all(
      [...touched].map(async (id) => {
        const state = this.ctx.networks.get(id);
        if (!state?.programmed) return;
        try {
          await this.applyDesired(state, true, emptyReport());
        } catch (err) {
          errors.set(id, err as Error);
        }
      }),
    );
    for (const op of batch) op.done(errors.get(op.e.network));
  }

  /**
   * Makes vxlan0's tables what the network's endpoints want, from what `tables` says they hold;
   * with `prune` false, only adds. Runs under the lock (the endpoint table holds still).
   */
  async applyDesired(state: NetworkState, prune: boolean, report: ReconcileReport): Promise<void> {
    const p = state.programmed!;
    const table = this.endpointTable(state.net.id);
    const version = table.version;
    const diff = diffTables(p.tables, table.tables());
    if (!prune) {
      diff.neighDel = [];
      diff.fdbDel = [];
    }
    p.inSyncAt = undefined;
    await this.applyDiff(state, diff, report);
    if (prune) p.inSyncAt = version;
  }

  /**
   * True when nothing is left to do: `tables` was made what the endpoints want and the kernel
   * still holds exactly that (its permanent neighbours and FDB entries on vxlan0, read in place
   * and compared one by one, no tables built: the reconcile of an unchanged 10,000-endpoint
   * network used to make four 10,000-entry Maps every minute).
   */
  async inSync(state: NetworkState): Promise<boolean> {
    const p = state.programmed!;
    if (p.inSyncAt !== this.endpointTable(state.net.id).version) return false;
    const { neigh, fdb } = p.tables;
    let matched = 0;
    let stray = false;
    await kernelNeighbours(p, (ip, mac) => {
      if (neigh.get(ip) === mac) matched++;
      else stray = true;
    });
    if (stray || matched !== neigh.size) return false;
    matched = 0;
    await kernelFdb(p, (mac, vtep) => {
      if (fdb.get(mac) === vtep) matched++;
      else stray = true;
    });
    return !stray && matched === fdb.size;
  }

  async applyDiff(state: NetworkState, diff: TableDiff, report: ReconcileReport): Promise<void> {
    const p = state.programmed!;
    if (isEmptyDiff(diff)) return;
    const ifindex = p.vxlanIndex;
    const ip = (text: string) => ipv4Bytes(parseIpv4(text)!);
    const fdb = (mac: string, vtep: string) => ({ ifindex, family: AF_BRIDGE, lladdr: macBytes(mac), dst: ip(vtep) }) as const;
    const neigh = (addr: string, mac: string) => ({ ifindex, family: AF_INET, lladdr: macBytes(mac), dst: ip(addr) }) as const;
    // Deletions first so a replaced address never has two owners; one bulk batch for all.
    const labelled: Array<[string, RawRequest, boolean]> = [
      ...diff.fdbDel.map(([mac, vtep]): [string, RawRequest, boolean] => [`delete fdb ${mac} dst ${vtep}`, deleteNeighbourRequest(fdb(mac, vtep)), true]),
      ...diff.neighDel.map((addr): [string, RawRequest, boolean] => [`delete neighbour ${addr}`, deleteNeighbourRequest(neigh(addr, '00:00:00:00:00:00')), true]),
      ...diff.neighSet.map(([addr, mac]): [string, RawRequest, boolean] => [`set neighbour ${addr} lladdr ${mac}`, setNeighbourRequest(neigh(addr, mac)), false]),
      ...diff.fdbSet.map(([mac, vtep]): [string, RawRequest, boolean] => [`set fdb ${mac} dst ${vtep}`, setNeighbourRequest(fdb(mac, vtep)), false]),
    ];
    const results = await p.rtnl.batch(labelled.map(([, r]) => r));
    const failedAt = (i: number) => {
      const e = results[i];
      return e !== undefined && !(labelled[i]![2] && (GONE as readonly string[]).includes(errnoName(e.errno)));
    };
    // Record what certainly happened, so a partial failure is retried by the next diff.
    for (const [mac] of diff.fdbDel) p.tables.fdb.delete(mac);
    for (const addr of diff.neighDel) p.tables.neigh.delete(addr);
    const base = diff.fdbDel.length + diff.neighDel.length;
    diff.neighSet.forEach(([addr, mac], i) => {
      if (!failedAt(base + i)) p.tables.neigh.set(addr, mac);
    });
    diff.fdbSet.forEach(([mac, vtep], i) => {
      if (!failedAt(base + diff.neighSet.length + i)) p.tables.fdb.set(mac, vtep);
    });
    report.neighboursAdded += diff.neighSet.length;
    report.neighboursRemoved += diff.neighDel.length;
    report.fdbAdded += diff.fdbSet.length;
    report.fdbRemoved += diff.fdbDel.length;
    const first = labelled.findIndex((_, i) => failedAt(i));
    if (first >= 0) {
      const e = results[first]!;
      const failures = labelled.filter((_, i) => failedAt(i)).length;
      throw new NetlinkOperationError(`${labelled[first]![0]} on ${VXLAN_NAME} in ${p.netnsPath}${failures > 1 ? ` (and ${failures - 1} more)` : ''}`, errnoName(e.errno), e.message);
    }
  }

  /** Permanent neighbours and FDB entries on vxlan0: exactly the kinds berth writes there. */
  async readTables(p: ProgrammedNetwork): Promise<KernelTables> {
    const t = emptyTables();
    await kernelNeighbours(p, (ip, mac) => t.neigh.set(ip, mac));
    await kernelFdb(p, (mac, vtep) => t.fdb.set(mac, vtep));
    return t;
  }

  /** Follows a ClusterTables: seeds each network from it when defined, then applies its events. */
  watch(tables: ClusterTables, onError: (err: Error) => void = () => undefined): () => void {
    this.tables = tables;
    const handle = (kind: 'add' | 'remove') => (e: Endpoint) => {
      if (!this.ctx.networks.has(e.network)) return; // seeded from the tables when it is defined
      // Another node's entry that is not a valid endpoint (an IPv6 address, a bad MAC) is
      // dropped alone and counted; it must not stop the gossip's delivery of the others.
      let op: Promise<void>;
      try {
        op = kind === 'add' ? this.addRemoteEndpoint(e) : this.removeRemoteEndpoint(e);
      } catch (err) {
        this.rejected++;
        onError(err as Error);
        return;
      }
      op.catch(onError);
    };
    const onAdd = handle('add');
    const onRemove = handle('remove');
    tables.on('endpoint-added', onAdd);
    tables.on('endpoint-removed', onRemove);
    for (const id of this.ctx.networks.keys()) this.seedFromTables(id);
    return () => {
      tables.off?.('endpoint-added', onAdd);
      tables.off?.('endpoint-removed', onRemove);
      if (this.tables === tables) this.tables = undefined;
    };
  }

  /** A network was just defined: seed it from the tables being watched, if any. */
  networkDefined(id: NetworkId): void {
    if (this.tables) this.seedFromTables(id);
  }

  /** Seeds a network with the valid entries only: one bad entry never keeps the others out. */
  private seedFromTables(id: NetworkId): void {
    const ops: EndpointOp[] = [];
    for (const e of this.tables?.endpoints(id) ?? []) {
      try {
        ops.push({ kind: 'add', e: normalizeEndpoint(e) });
      } catch {
        this.rejected++;
      }
    }
    if (ops.length > 0) void this.queueEndpoints(ops).catch(() => undefined);
  }

  /** Other nodes' entries refused as endpoints (not IPv4, bad MAC or VTEP) since start. */
  rejectedEndpoints(): number {
    return this.rejected;
  }

  /** Resolves once every change queued before the call (endpoint events included) is applied. */
  settled(): Promise<void> {
    return this.ctx.locked(() => this.flushEndpoints());
  }
}
