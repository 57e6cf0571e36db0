// The overlay data plane on one host: per network a namespace holding br0 + vxlan0 (its UDP
// socket in the host namespace, as Docker's driver has it), per sandbox a veth from br0 into the
// sandbox as ethN, per remote endpoint a permanent neighbour and an FDB entry on vxlan0.
//
// Every mutation runs under one lock and is check-then-repair against the kernel, so calling
// attachSandbox again after a restart keeps working links untouched (established flows survive)
// and reconcile() removes what berth owns but no longer wants and puts back what drifted.
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsAt, deleteNetnsAt } from '../native/index.js';
import { EndpointTable, diffTables, emptyTables, isEmptyDiff, type KernelTables, type TableDiff } from './endpoints.js';
import { NetdError, NetdValidationError, NetlinkOperationError, NetworkNotFoundError, ReconcileError } from './errors.js';
import { containerMac, formatIpv4, ipv4Bytes, ipv4FromBytes, macBytes, macFromBytes, parseIpv4 } from './ipv4.js';
import {
  BRIDGE_NAME,
  VXLAN_NAME,
  checkId,
  checkNamePrefix,
  isOwnedLinkName,
  isOwnedNetnsName,
  overlayNetnsName,
  sandboxIfname,
  vethHostName,
} from './naming.js';
import {
  AF_BRIDGE,
  AF_INET,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_TABLE_MAIN,
  Rtnl,
  bridgeLinkInfo,
  deleteNeighbourRequest,
  errnoName,
  setNeighbourRequest,
  vethLinkInfo,
  vxlanLinkInfo,
  type LinkView,
  type RawRequest,
} from './rtnl.js';
import type {
  ClusterTables,
  Endpoint,
  NetworkAttachment,
  NetworkId,
  OverlayNetworkSpec,
  OverlayOptions,
  ReconcileReport,
  SandboxInterface,
  TaskId,
} from './types.js';
import { checkNetworkConflicts, normalizeAddresses, normalizeEndpoint, normalizeNetwork, type Address, type Network, type RemoteEndpoint } from './validate.js';

export const DEFAULT_VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
export const DEFAULT_NETNS_DIR = '/run/berth/netns';
export const DEFAULT_NAME_PREFIX = 'berth-';
const DEFAULT_NETWORK_WAIT_MS = 5_000;
const SELF_NETNS = '/proc/self/ns/net';
const MIN_MTU = 576;
const MAX_MTU = 65_535;
const MAX_PORT = 65_535;
const LOOPBACK = 'lo';
const GONE = ['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL'] as const;

interface ProgrammedNetwork {
  netnsPath: string;
  rtnl: Rtnl;
  bridgeIndex: number;
  vxlanIndex: number;
  /** What we last wrote to (or read from) vxlan0's tables. */
  tables: KernelTables;
}

interface NetworkState {
  net: Network;
  pinned: boolean;
  sandboxes: Set<TaskId>;
  programmed?: ProgrammedNetwork;
}

interface Member {
  networkId: NetworkId;
  ifname: string;
  hostIfname: string;
  mac: string;
  addresses: Address[];
  defaultGateway: boolean;
}

interface SandboxState {
  taskId: TaskId;
  netnsPath: string;
  /** dev:inode of the namespace at attach time: a /proc/<pid>/ns/net path outlives its process,
   *  and the pid can be reused, so reconcile never plumbs into a namespace that merely has the path. */
  netnsId: string | undefined;
  members: Member[];
}

interface AddressView {
  index: number;
  local: number;
  prefixLen: number;
}

interface EndpointOp {
  kind: 'add' | 'remove';
  e: RemoteEndpoint;
}

export function emptyReport(): ReconcileReport {
  return {
    networksCreated: 0,
    networksRemoved: 0,
    devicesCreated: 0,
    linksRemoved: 0,
    linksRepaired: 0,
    sandboxesRepaired: 0,
    addressesRestored: 0,
    routesRestored: 0,
    neighboursAdded: 0,
    neighboursRemoved: 0,
    fdbAdded: 0,
    fdbRemoved: 0,
  };
}

function netnsIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function checkOptions(o: OverlayOptions): void {
  if (parseIpv4(o.advertiseAddress) === undefined) {
    throw new NetdValidationError('E_INVALID_ADDRESS', `advertiseAddress ${JSON.stringify(o.advertiseAddress)} must be this node's IPv4 underlay address`);
  }
  if (o.vxlanPort !== undefined && !(Number.isInteger(o.vxlanPort) && o.vxlanPort > 0 && o.vxlanPort <= MAX_PORT)) {
    throw new NetdValidationError('E_INVALID_NETWORK', `vxlanPort ${String(o.vxlanPort)} must be an integer in 1..${MAX_PORT}`);
  }
  if (o.mtu !== undefined && !(Number.isInteger(o.mtu) && o.mtu >= MIN_MTU && o.mtu <= MAX_MTU)) {
    throw new NetdValidationError('E_INVALID_NETWORK', `mtu ${String(o.mtu)} must be an integer in ${MIN_MTU}..${MAX_MTU}`);
  }
  checkNamePrefix(o.namePrefix ?? DEFAULT_NAME_PREFIX);
}

/** Finds the advertise address's interface in the host namespace and derives the overlay MTU. */
async function detectMtu(host: Rtnl, advertise: string): Promise<number> {
  const addrs = await host.call('dump addresses', (o) => host.rt.getAddresses({ family: AF_INET }, undefined, o));
  const hit = addrs.find((a) => a.attrs.local && ipv4FromBytes(a.attrs.local) === advertise);
  if (!hit) {
    throw new NetdError('E_UNDERLAY', `advertise address ${advertise} is not configured in ${host.netnsPath}; set advertiseAddress to an address of this host (or hostNetns to the namespace that has it)`);
  }
  const link = (await host.links()).find((l) => l.index === hit.data.index);
  if (!link?.mtu) throw new NetdError('E_UNDERLAY', `cannot read the MTU of the interface holding ${advertise} in ${host.netnsPath}`);
  return link.mtu - VXLAN_OVERHEAD;
}

export class OverlayDataPlane {
  readonly mtu: number;
  readonly vxlanPort: number;
  private readonly netnsDir: string;
  private readonly prefix: string;
  private readonly networkWaitMs: number;
  private readonly networks = new Map<NetworkId, NetworkState>();
  private readonly endpoints = new Map<NetworkId, EndpointTable>();
  private readonly sandboxes = new Map<TaskId, SandboxState>();
  private readonly networkWaiters = new Map<NetworkId, Array<() => void>>();
  private pendingEndpoints: Array<EndpointOp & { done: (err?: Error) => void }> = [];
  private lock: Promise<unknown> = Promise.resolve();
  private tables: ClusterTables | undefined;
  private closed = false;

  private constructor(
    private readonly options: OverlayOptions,
    private readonly host: Rtnl,
    mtu: number,
  ) {
    this.mtu = mtu;
    this.vxlanPort = options.vxlanPort ?? DEFAULT_VXLAN_PORT;
    this.netnsDir = options.netnsDir ?? DEFAULT_NETNS_DIR;
    this.prefix = options.namePrefix ?? DEFAULT_NAME_PREFIX;
    this.networkWaitMs = options.networkWaitMs ?? DEFAULT_NETWORK_WAIT_MS;
  }

  /** Opens the host namespace, checks the underlay and derives the MTU. Touches no kernel state. */
  static async open(options: OverlayOptions): Promise<OverlayDataPlane> {
    checkOptions(options);
    const host = Rtnl.open(options.hostNetns ?? SELF_NETNS);
    try {
      const mtu = options.mtu ?? (await detectMtu(host, options.advertiseAddress));
      mkdirSync(options.netnsDir ?? DEFAULT_NETNS_DIR, { recursive: true });
      return new OverlayDataPlane(options, host, mtu);
    } catch (err) {
      await host.close();
      throw err;
    }
  }

  // ---- networks ----

  /** Defines the network and programs it now; it stays until removeNetwork and its last sandbox leave. */
  async createNetwork(spec: OverlayNetworkSpec): Promise<void> {
    const state = this.define(spec);
    await this.locked(async () => {
      state.pinned = true;
      await this.program(state, emptyReport());
    });
  }

  /** Drops the pin; the namespace goes once no sandbox uses the network. */
  async removeNetwork(id: NetworkId): Promise<void> {
    await this.locked(async () => {
      const state = this.networks.get(id);
      if (!state) return;
      state.pinned = false;
      if (state.sandboxes.size === 0) await this.retire(state);
    });
  }

  private define(spec: OverlayNetworkSpec): NetworkState {
    this.assertOpen();
    const net = normalizeNetwork(spec);
    checkNetworkConflicts([...this.networks.values()].map((s) => s.net), net);
    let state = this.networks.get(net.id);
    if (!state) {
      state = { net, pinned: false, sandboxes: new Set() };
      this.networks.set(net.id, state);
      if (this.tables) this.seedFromTables(net.id);
      for (const wake of this.networkWaiters.get(net.id) ?? []) wake();
      this.networkWaiters.delete(net.id);
    }
    return state;
  }

  private netnsPathOf(id: NetworkId): string {
    return join(this.netnsDir, overlayNetnsName(this.prefix, id));
  }

  /** Makes the kernel match the network's desired state; adds only, except with `prune`. */
  private async program(state: NetworkState, report: ReconcileReport, prune = false): Promise<ProgrammedNetwork> {
    const path = this.netnsPathOf(state.net.id);
    if (state.programmed && !existsSync(path)) {
      await state.programmed.rtnl.close();
      state.programmed = undefined;
    }
    // Objects inside a namespace created just now are part of networksCreated, not drift.
    const fresh = !existsSync(path);
    if (fresh) {
      createNetnsAt(path);
      report.networksCreated++;
    }
    const rtnl = state.programmed?.rtnl ?? Rtnl.open(path);
    try {
      const links = await rtnl.links();
      const lo = links.find((l) => l.name === LOOPBACK);
      if (lo && !lo.up) {
        await this.setUp(rtnl, lo.index, LOOPBACK);
        if (!fresh) report.linksRepaired++;
      }
      const bridge = await this.ensureBridge(rtnl, state.net, links, report, fresh);
      const vxlan = await this.ensureVxlan(rtnl, path, state.net, links, bridge, report, fresh);
      const p: ProgrammedNetwork = state.programmed ?? { netnsPath: path, rtnl, bridgeIndex: bridge, vxlanIndex: vxlan, tables: emptyTables() };
      p.bridgeIndex = bridge;
      p.vxlanIndex = vxlan;
      state.programmed = p;
      p.tables = await this.readTables(p);
      const desired = this.endpointTable(state.net.id).tables();
      const diff = diffTables(p.tables, desired);
      if (!prune) {
        diff.neighDel = [];
        diff.fdbDel = [];
      }
      await this.applyDiff(state, diff, report);
      if (prune) {
        const wanted = new Set(this.membersOf(state.net.id).map((m) => m.hostIfname));
        for (const l of links) {
          if (isOwnedLinkName(l.name) && !wanted.has(l.name)) {
            await this.deleteLink(rtnl, l.index, l.name);
            report.linksRemoved++;
          }
        }
      }
      return p;
    } catch (err) {
      if (!state.programmed) await rtnl.close();
      throw err;
    }
  }

  private async ensureBridge(rtnl: Rtnl, net: Network, links: LinkView[], report: ReconcileReport, fresh: boolean): Promise<number> {
    let br = links.find((l) => l.name === BRIDGE_NAME);
    if (br && br.kind !== 'bridge') {
      await this.deleteLink(rtnl, br.index, BRIDGE_NAME);
      br = undefined;
    }
    const created = !br;
    if (!br) {
      if (!fresh) report.devicesCreated++;
      await rtnl.call(
        `create bridge ${BRIDGE_NAME}`,
        (o) => rtnl.rt.newLink({ flags: { up: true }, change: { up: true } }, { ifname: BRIDGE_NAME, mtu: this.mtu, linkinfo: bridgeLinkInfo() }, o),
        NLM_F_CREATE | NLM_F_EXCL,
      );
      br = (await rtnl.links()).find((l) => l.name === BRIDGE_NAME);
      if (!br) throw new NetdError('E_NETLINK', `bridge ${BRIDGE_NAME} vanished right after creation in ${rtnl.netnsPath}`);
    } else if (!br.up || br.mtu !== this.mtu) {
      await rtnl.call(`set ${BRIDGE_NAME} up, mtu ${this.mtu}`, (o) => rtnl.rt.setLink({ index: br!.index, flags: { up: true }, change: { up: true } }, { mtu: this.mtu }, o));
      report.linksRepaired++;
    }
    // The gateway address lives on the bridge, as in Docker's overlay namespace.
    const index = br.index;
    const has = (await this.addresses(rtnl)).some((a) => a.index === index && a.local === net.gateway && a.prefixLen === net.subnet.prefixLen);
    if (!has) {
      await rtnl.call(
        `add gateway ${formatIpv4(net.gateway)} to ${BRIDGE_NAME}`,
        (o) => rtnl.rt.newAddress({ family: AF_INET, prefixlen: net.subnet.prefixLen, index }, { local: ipv4Bytes(net.gateway), address: ipv4Bytes(net.gateway) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
      if (!created) report.addressesRestored++;
    }
    return index;
  }

  private vxlanMatches(l: LinkView, net: Network): boolean {
    const v = l.vxlan;
    return l.kind === 'vxlan' && v !== undefined && v.vni === net.vni && v.port === this.vxlanPort && !v.learning && v.proxy;
  }

  private async ensureVxlan(rtnl: Rtnl, netnsPath: string, net: Network, links: LinkView[], bridge: number, report: ReconcileReport, fresh: boolean): Promise<number> {
    let vx = links.find((l) => l.name === VXLAN_NAME);
    if (vx && !this.vxlanMatches(vx, net)) {
      await this.deleteLink(rtnl, vx.index, VXLAN_NAME);
      vx = undefined;
    }
    const created = !vx;
    if (!vx) {
      if (!fresh) report.devicesCreated++;
      // Created from the host namespace's socket and placed into the overlay namespace in one
      // request: the device lives with the bridge, its UDP socket stays with the underlay.
      const nsFd = openSync(netnsPath, 'r');
      try {
        await this.host.call(
          `create ${VXLAN_NAME} (VNI ${net.vni}, port ${this.vxlanPort}) for network ${net.id}`,
          (o) =>
            this.host.rt.newLink(
              {},
              {
                ifname: VXLAN_NAME,
                mtu: this.mtu,
                netNsFd: nsFd,
                linkinfo: vxlanLinkInfo({ vni: net.vni, port: this.vxlanPort, local: ipv4Bytes(parseIpv4(this.options.advertiseAddress)!) }),
              },
              o,
            ),
          NLM_F_CREATE | NLM_F_EXCL,
        );
      } catch (err) {
        if (err instanceof NetlinkOperationError && err.errnoName === 'EEXIST') {
          throw new NetdValidationError('E_VNI_CONFLICT', `VNI ${net.vni} (network ${net.id}) is already used by another VXLAN device on port ${this.vxlanPort} in ${this.host.netnsPath}: ${err.message}`);
        }
        throw err;
      } finally {
        closeSync(nsFd);
      }
      vx = (await rtnl.links()).find((l) => l.name === VXLAN_NAME);
      if (!vx) throw new NetdError('E_NETLINK', `${VXLAN_NAME} did not appear in ${netnsPath} after creation`);
    }
    if (vx.master !== bridge || !vx.up || vx.mtu !== this.mtu) {
      await rtnl.call(`attach ${VXLAN_NAME} to ${BRIDGE_NAME}`, (o) => rtnl.rt.setLink({ index: vx!.index, flags: { up: true }, change: { up: true } }, { master: bridge, mtu: this.mtu }, o));
      if (!created) report.linksRepaired++;
    }
    return vx.index;
  }

  /** Deletes the network's devices first so its VNI is free at once, then unpins the namespace. */
  private async retire(state: NetworkState): Promise<void> {
    const path = this.netnsPathOf(state.net.id);
    await this.destroyNamespace(path, state.programmed?.rtnl);
    state.programmed = undefined;
    this.networks.delete(state.net.id);
    this.endpoints.delete(state.net.id);
  }

  private async destroyNamespace(path: string, open?: Rtnl): Promise<void> {
    if (existsSync(path)) {
      const rtnl = open ?? Rtnl.open(path);
      try {
        for (const l of await rtnl.links()) {
          if (l.name === VXLAN_NAME || isOwnedLinkName(l.name)) await this.deleteLink(rtnl, l.index, l.name);
        }
      } finally {
        await rtnl.close();
      }
      deleteNetnsAt(path);
    } else if (open) {
      await open.close();
    }
  }

  // ---- remote endpoints ----

  private endpointTable(id: NetworkId): EndpointTable {
    let t = this.endpoints.get(id);
    if (!t) this.endpoints.set(id, (t = new EndpointTable()));
    return t;
  }

  private isLocal(e: RemoteEndpoint): boolean {
    return e.vtep === this.options.advertiseAddress;
  }

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
    this.assertOpen();
    const relevant = ops.filter((op) => !this.isLocal(op.e));
    if (relevant.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = relevant.length;
      let failure: Error | undefined;
      const done = (err?: Error) => {
        failure ??= err;
        if (--left === 0) (failure ? reject(failure) : resolve());
      };
      const first = this.pendingEndpoints.length === 0;
      for (const op of relevant) this.pendingEndpoints.push({ ...op, done });
      if (first) void this.locked(() => this.flushEndpoints());
    });
  }

  private async flushEndpoints(): Promise<void> {
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
        const state = this.networks.get(id);
        if (!state?.programmed) return;
        try {
          await this.applyDiff(state, diffTables(state.programmed.tables, this.endpointTable(id).tables()), emptyReport());
        } catch (err) {
          errors.set(id, err as Error);
        }
      }),
    );
    for (const op of batch) op.done(errors.get(op.e.network));
  }

  private async applyDiff(state: NetworkState, diff: TableDiff, report: ReconcileReport): Promise<void> {
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
  private async readTables(p: ProgrammedNetwork): Promise<KernelTables> {
    const t = emptyTables();
    const { rtnl } = p;
    const [neigh, fdb] = [
      await rtnl.call('dump neighbours', (o) => rtnl.rt.getNeighbors({ family: AF_INET }, undefined, o)),
      await rtnl.call('dump fdb', (o) => rtnl.rt.getNeighbors({ family: AF_BRIDGE }, undefined, o)),
    ];
    for (const n of neigh) {
      if (n.data.ifindex === p.vxlanIndex && n.data.state?.permanent && n.attrs.dst && n.attrs.lladdr) t.neigh.set(ipv4FromBytes(n.attrs.dst), macFromBytes(n.attrs.lladdr));
    }
    for (const n of fdb) {
      if (n.data.ifindex === p.vxlanIndex && n.attrs.dst && n.attrs.lladdr) t.fdb.set(macFromBytes(n.attrs.lladdr), ipv4FromBytes(n.attrs.dst));
    }
    return t;
  }

  /** Follows a ClusterTables: seeds each network from it when defined, then applies its events. */
  watch(tables: ClusterTables, onError: (err: Error) => void = () => undefined): () => void {
    this.tables = tables;
    const handle = (kind: 'add' | 'remove') => (e: Endpoint) => {
      if (!this.networks.has(e.network)) return; // seeded from the tables when it is defined
      (kind === 'add' ? this.addRemoteEndpoint(e) : this.removeRemoteEndpoint(e)).catch(onError);
    };
    const onAdd = handle('add');
    const onRemove = handle('remove');
    tables.on('endpoint-added', onAdd);
    tables.on('endpoint-removed', onRemove);
    for (const id of this.networks.keys()) this.seedFromTables(id);
    return () => {
      tables.off?.('endpoint-added', onAdd);
      tables.off?.('endpoint-removed', onRemove);
      if (this.tables === tables) this.tables = undefined;
    };
  }

  private seedFromTables(id: NetworkId): void {
    const all = [...(this.tables?.endpoints(id) ?? [])];
    if (all.length > 0) void this.applyEndpoints(all).catch(() => undefined);
  }

  /** Resolves once every change queued before the call (endpoint events included) is applied. */
  settled(): Promise<void> {
    return this.locked(() => this.flushEndpoints());
  }

  // ---- sandboxes ----

  private membersOf(id: NetworkId): Member[] {
    return [...this.sandboxes.values()].flatMap((s) => s.members.filter((m) => m.networkId === id));
  }

  private async waitForNetwork(id: NetworkId): Promise<void> {
    if (this.networks.has(id)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.networkWaiters.get(id) ?? [];
        this.networkWaiters.set(id, list.filter((w) => w !== wake));
        reject(new NetworkNotFoundError(id, this.networkWaitMs));
      }, this.networkWaitMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const list = this.networkWaiters.get(id) ?? [];
      list.push(wake);
      this.networkWaiters.set(id, list);
    });
  }

  /**
   * Plumbs the sandbox at `netnsPath` into each attachment's network as eth0, eth1, … in the
   * order given. Idempotent: links that are already right are kept as they are.
   */
  async attachSandbox(taskId: TaskId, netnsPath: string, attachments: readonly NetworkAttachment[]): Promise<SandboxInterface[]> {
    this.assertOpen();
    checkId('task id', taskId);
    if (attachments.length === 0) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: no network attachments`);
    const ids = attachments.map((a) => a.networkId);
    if (new Set(ids).size !== ids.length) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: a network is attached twice (${ids.join(', ')})`);
    for (const a of attachments) {
      if (a.network) {
        if (a.network.id !== a.networkId) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: attachment names network ${a.networkId} but carries ${a.network.id}`);
        this.define(a.network);
      }
    }
    await Promise.all(ids.map((id) => this.waitForNetwork(id)));
    return this.locked(async () => {
      const members = attachments.map((a, i): Member => {
        const net = this.networks.get(a.networkId)?.net;
        if (!net) throw new NetworkNotFoundError(a.networkId, this.networkWaitMs);
        const addresses = normalizeAddresses(a, net);
        this.checkAddressesFree(taskId, net.id, addresses);
        return { networkId: net.id, ifname: sandboxIfname(i), hostIfname: vethHostName(taskId, net.id), mac: containerMac(addresses[0]!.ip), addresses, defaultGateway: a.defaultGateway === true };
      });
      const previous = this.sandboxes.get(taskId);
      if (previous && (previous.netnsPath !== netnsPath || JSON.stringify(previous.members) !== JSON.stringify(members))) {
        throw new NetdValidationError('E_SANDBOX_CONFLICT', `task ${taskId} is already attached with a different sandbox or networks; detach it first`);
      }
      const sandbox: SandboxState = { taskId, netnsPath, netnsId: netnsIdentity(netnsPath), members };
      this.sandboxes.set(taskId, sandbox);
      for (const m of members) this.networks.get(m.networkId)!.sandboxes.add(taskId);
      try {
        await this.plumb(sandbox, emptyReport());
      } catch (err) {
        if (!previous) await this.unplumb(sandbox).catch(() => undefined);
        throw err;
      }
      return members.map((m) => ({ networkId: m.networkId, ifname: m.ifname, hostIfname: m.hostIfname, mac: m.mac, addresses: m.addresses.map((a) => `${formatIpv4(a.ip)}/${a.prefixLen}`) }));
    });
  }

  private checkAddressesFree(taskId: TaskId, networkId: NetworkId, addresses: Address[]): void {
    for (const s of this.sandboxes.values()) {
      if (s.taskId === taskId) continue;
      for (const m of s.members) {
        if (m.networkId !== networkId) continue;
        const clash = m.addresses.find((a) => addresses.some((b) => b.ip === a.ip));
        if (clash) throw new NetdValidationError('E_ADDRESS_IN_USE', `address ${formatIpv4(clash.ip)} on network ${networkId} is already used by task ${s.taskId}`);
      }
    }
  }

  async detachSandbox(taskId: TaskId): Promise<void> {
    await this.locked(async () => {
      const sandbox = this.sandboxes.get(taskId);
      if (sandbox) await this.unplumb(sandbox);
    });
  }

  private async unplumb(sandbox: SandboxState): Promise<void> {
    this.sandboxes.delete(sandbox.taskId);
    for (const m of sandbox.members) {
      const state = this.networks.get(m.networkId);
      if (!state) continue;
      state.sandboxes.delete(sandbox.taskId);
      const p = state.programmed;
      if (p) {
        const link = await p.rtnl.linkByName(m.hostIfname);
        if (link) await this.deleteLink(p.rtnl, link.index, m.hostIfname);
      }
      if (state.sandboxes.size === 0 && !state.pinned) await this.retire(state);
    }
  }

  /** Makes every member of the sandbox right; returns true when something had to be rebuilt. */
  private async plumb(sandbox: SandboxState, report: ReconcileReport): Promise<boolean> {
    if (!existsSync(sandbox.netnsPath)) {
      throw new NetdError('E_SANDBOX_CONFLICT', `task ${sandbox.taskId}: sandbox namespace ${sandbox.netnsPath} does not exist`);
    }
    const sb = Rtnl.open(sandbox.netnsPath);
    let repaired = false;
    try {
      const lo = await sb.linkByName(LOOPBACK);
      if (lo && !lo.up) {
        await this.setUp(sb, lo.index, LOOPBACK);
        report.linksRepaired++;
      }
      for (const m of sandbox.members) {
        const state = this.networks.get(m.networkId)!;
        const p = state.programmed ?? (await this.program(state, report));
        const hostLink = await p.rtnl.linkByName(m.hostIfname);
        let inner = await sb.linkByName(m.ifname);
        const healthy = hostLink && inner && inner.kind === 'veth' && inner.mac === m.mac && hostLink.master === p.bridgeIndex;
        if (!healthy) {
          repaired = true;
          if (hostLink) await this.deleteLink(p.rtnl, hostLink.index, m.hostIfname);
          if (inner) await this.deleteLink(sb, inner.index, m.ifname);
          await this.createVeth(p, sandbox, m);
          inner = await sb.linkByName(m.ifname);
        } else if (!hostLink.up) {
          await this.setUp(p.rtnl, hostLink.index, m.hostIfname);
          report.linksRepaired++;
        }
        await this.configureInside(sb, inner, state.net, m, report, !healthy);
      }
    } finally {
      await sb.close();
    }
    if (repaired) report.sandboxesRepaired++;
    return repaired;
  }

  private async createVeth(p: ProgrammedNetwork, sandbox: SandboxState, m: Member): Promise<void> {
    const sbFd = openSync(sandbox.netnsPath, 'r');
    try {
      // One request: the bridge side enslaved and up here, the sandbox side born in the sandbox
      // under its final name and MAC, so no half-made pair is ever visible.
      await p.rtnl.call(
        `create veth ${m.hostIfname} <-> ${m.ifname} for task ${sandbox.taskId}`,
        (o) =>
          p.rtnl.rt.newLink(
            { flags: { up: true }, change: { up: true } },
            { ifname: m.hostIfname, mtu: this.mtu, master: p.bridgeIndex, linkinfo: vethLinkInfo({ ifname: m.ifname, mtu: this.mtu, address: macBytes(m.mac), netNsFd: sbFd }) },
            o,
          ),
        NLM_F_CREATE | NLM_F_EXCL,
      );
    } finally {
      closeSync(sbFd);
    }
  }

  /** Addresses, link state and default route inside the sandbox; `fresh` = the veth was just made. */
  private async configureInside(sb: Rtnl, link: LinkView | undefined, net: Network, m: Member, report: ReconcileReport, fresh: boolean): Promise<void> {
    if (!link) throw new NetdError('E_NETLINK', `${m.ifname} is missing in ${sb.netnsPath} right after creation`);
    const drift = fresh ? 0 : 1;
    const present = await this.addresses(sb);
    for (const a of m.addresses) {
      if (present.some((x) => x.index === link.index && x.local === a.ip && x.prefixLen === a.prefixLen)) continue;
      await sb.call(
        `add ${formatIpv4(a.ip)}/${a.prefixLen} to ${m.ifname}`,
        (o) => sb.rt.newAddress({ family: AF_INET, prefixlen: a.prefixLen, index: link.index }, { local: ipv4Bytes(a.ip), address: ipv4Bytes(a.ip) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
      report.addressesRestored += drift;
    }
    if (!link.up) {
      await this.setUp(sb, link.index, m.ifname);
      report.linksRepaired += drift;
    }
    // A link that went down took its routes with it; the default route is checked after the up.
    if (m.defaultGateway && !(await this.hasDefaultRoute(sb, link.index, net.gateway))) {
      report.routesRestored += drift;
      await sb.call(
        `default route via ${formatIpv4(net.gateway)} dev ${m.ifname}`,
        (o) =>
          sb.rt.newRoute(
            { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
            { gateway: ipv4Bytes(net.gateway), oif: link.index },
            o,
          ),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
    }
  }

  // ---- reconcile ----

  /**
   * Compares every namespace berth owns with desired state: creates what is missing, deletes
   * stale namespaces, stray veths, and neighbour/FDB entries nobody announced, and puts back
   * what was changed behind berth's back (links down, addresses, routes, br0/vxlan0). Call it
   * after a restart once desired state (networks, sandboxes, endpoints) has been handed back:
   * before that, live objects look stale. One object failing does not stop the others; the
   * run then throws a ReconcileError carrying the report of what it did fix.
   */
  async reconcile(): Promise<ReconcileReport> {
    this.assertOpen();
    return this.locked(async () => {
      const report = emptyReport();
      const failures: string[] = [];
      const attempt = async (fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          failures.push((err as Error).message);
        }
      };
      const wanted = new Set<string>();
      for (const state of this.networks.values()) {
        if (state.pinned || state.sandboxes.size > 0) wanted.add(overlayNetnsName(this.prefix, state.net.id));
      }
      for (const name of existsSync(this.netnsDir) ? readdirSync(this.netnsDir) : []) {
        if (isOwnedNetnsName(this.prefix, name) && !wanted.has(name)) {
          await attempt(async () => {
            await this.destroyNamespace(join(this.netnsDir, name));
            report.networksRemoved++;
          });
        }
      }
      for (const state of this.networks.values()) {
        if (state.pinned || state.sandboxes.size > 0) await attempt(() => this.program(state, report, true));
      }
      for (const sandbox of this.sandboxes.values()) {
        // Gone, or the path now names another namespace (a reused pid): nothing of ours is there.
        const id = netnsIdentity(sandbox.netnsPath);
        if (id !== undefined && id === sandbox.netnsId) await attempt(() => this.plumb(sandbox, report));
      }
      if (failures.length > 0) throw new ReconcileError(report, failures);
      return report;
    });
  }

  // ---- helpers ----

  private async addresses(rtnl: Rtnl): Promise<AddressView[]> {
    const all = await rtnl.call('dump addresses', (o) => rtnl.rt.getAddresses({ family: AF_INET }, undefined, o));
    return all.flatMap((a) => (a.attrs.local && a.data.index !== undefined ? [{ index: a.data.index, local: a.attrs.local.readUInt32BE(0), prefixLen: a.data.prefixlen ?? 0 }] : []));
  }

  private async hasDefaultRoute(rtnl: Rtnl, oif: number, gateway: number): Promise<boolean> {
    const routes = await rtnl.call('dump routes', (o) => rtnl.rt.getRoutes({ family: AF_INET }, undefined, o));
    return routes.some(
      (r) => r.data.dstLen === 0 && (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN && r.attrs.oif === oif && r.attrs.gateway !== undefined && ipv4FromBytes(r.attrs.gateway) === formatIpv4(gateway),
    );
  }

  private async setUp(rtnl: Rtnl, index: number, name: string): Promise<void> {
    await rtnl.call(`set ${name} up`, (o) => rtnl.rt.setLink({ index, flags: { up: true }, change: { up: true } }, undefined, o));
  }

  private async deleteLink(rtnl: Rtnl, index: number, name: string): Promise<void> {
    await rtnl.tolerate(`delete link ${name}`, (o) => rtnl.rt.delLink({ index }, undefined, o), GONE);
  }

  private assertOpen(): void {
    if (this.closed) throw new NetdError('E_CLOSED', 'the overlay data plane is closed');
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** What this process believes is programmed (for agentctl and tests). */
  status(): { networks: Array<{ id: string; vni: number; netnsPath: string; sandboxes: number; remoteEndpoints: number; programmed: boolean }>; sandboxes: number } {
    return {
      networks: [...this.networks.values()].map((s) => ({
        id: s.net.id,
        vni: s.net.vni,
        netnsPath: this.netnsPathOf(s.net.id),
        sandboxes: s.sandboxes.size,
        remoteEndpoints: this.endpoints.get(s.net.id)?.size ?? 0,
        programmed: s.programmed !== undefined,
      })),
      sandboxes: this.sandboxes.size,
    };
  }

  /** Closes netlink sockets and timers; leaves the kernel state running (tasks keep talking). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.locked(async () => {
      this.closed = true;
      for (const s of this.networks.values()) {
        await s.programmed?.rtnl.close();
        s.programmed = undefined;
      }
      await this.host.close();
    });
  }
}

