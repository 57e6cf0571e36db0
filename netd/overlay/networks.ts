// Overlay network lifecycle, as libnetwork's ov_network.go: per network a namespace holding br0
// (with the gateway address) and vxlan0 (its UDP socket in the host namespace), defined once,
// programmed check-then-repair, retired when unpinned and unused.
import { existsSync, openSync, closeSync } from 'node:fs';
import { createNetnsAt, deleteNetnsAt } from '../../native/index.js';
import { NetdError, NetdValidationError, NetlinkOperationError, NetworkNotFoundError } from '../errors.js';
import { containerMac, contains, formatIpv4, ipv4Bytes, macBytes, parseIpv4 } from '../ipv4.js';
import type { NetworkId, OverlayNetworkSpec, ReconcileReport } from '../types.js';
import { emptyReport, type NetworkState, type OverlayContext, type ProgrammedNetwork } from './context.js';
import { emptyTables } from './endpoints.js';
import { GONE, LOOPBACK, addresses, deleteLink, setUp } from './kernel.js';
import { BRIDGE_NAME, VXLAN_NAME, isOwnedLinkName } from './naming.js';
import type { Peers } from './peers.js';
import { AF_INET, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Rtnl, bridgeLinkInfo, vxlanLinkInfo, type LinkView } from './rtnl.js';
import { checkNetworkConflicts, normalizeNetwork, type Network } from './validate.js';

export class Networks {
  private readonly networkWaiters = new Map<NetworkId, Array<() => void>>();

  constructor(
    private readonly ctx: OverlayContext,
    private readonly peers: Peers,
  ) {}

  /** Defines the network and programs it now; it stays until removeNetwork and its last sandbox leave. */
  async createNetwork(spec: OverlayNetworkSpec): Promise<void> {
    const state = this.define(spec);
    await this.ctx.locked(async () => {
      state.pinned = true;
      await this.program(state, emptyReport());
    });
  }

  /** Drops the pin; the namespace goes once no sandbox uses the network. */
  async removeNetwork(id: NetworkId): Promise<void> {
    await this.ctx.locked(async () => {
      const state = this.ctx.networks.get(id);
      if (!state) return;
      state.pinned = false;
      if (state.sandboxes.size === 0 && !state.lb) await this.retire(state);
    });
  }

  define(spec: OverlayNetworkSpec): NetworkState {
    this.ctx.assertOpen();
    const net = normalizeNetwork(spec);
    checkNetworkConflicts([...this.ctx.networks.values()].map((s) => s.net), net);
    let state = this.ctx.networks.get(net.id);
    if (!state) {
      state = { net, pinned: false, sandboxes: new Set() };
      this.ctx.networks.set(net.id, state);
      this.peers.networkDefined(net.id);
      for (const wake of this.networkWaiters.get(net.id) ?? []) wake();
      this.networkWaiters.delete(net.id);
    }
    return state;
  }

  async waitForNetwork(id: NetworkId): Promise<void> {
    if (this.ctx.networks.has(id)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.networkWaiters.get(id) ?? [];
        this.networkWaiters.set(id, list.filter((w) => w !== wake));
        reject(new NetworkNotFoundError(id, this.ctx.networkWaitMs));
      }, this.ctx.networkWaitMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const list = this.networkWaiters.get(id) ?? [];
      list.push(wake);
      this.networkWaiters.set(id, list);
    });
  }

  /** Makes the kernel match the network's desired state; adds only, except with `prune`. */
  async program(state: NetworkState, report: ReconcileReport, prune = false): Promise<ProgrammedNetwork> {
    const path = this.ctx.netnsPathOf(state.net.id);
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
        await setUp(rtnl, lo.index, LOOPBACK);
        if (!fresh) report.linksRepaired++;
      }
      const bridge = await this.ensureBridge(rtnl, state.net, links, report, fresh);
      await this.ensureLoadBalancer(rtnl, state, bridge, report, fresh);
      const vxlan = await this.ensureVxlan(rtnl, path, state.net, links, bridge, report, fresh);
      const p: ProgrammedNetwork = state.programmed ?? { netnsPath: path, rtnl, bridgeIndex: bridge, vxlanIndex: vxlan, tables: emptyTables() };
      p.bridgeIndex = bridge;
      p.vxlanIndex = vxlan;
      state.programmed = p;
      if (!(await this.peers.inSync(state))) {
        p.tables = await this.peers.readTables(p);
        await this.peers.applyDesired(state, prune, report);
      }
      if (prune) {
        const wanted = new Set(this.ctx.membersOf(state.net.id).map((m) => m.hostIfname));
        for (const l of links) {
          if (isOwnedLinkName(l.name) && !wanted.has(l.name)) {
            await deleteLink(rtnl, l.index, l.name);
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
    const mtu = this.ctx.mtu;
    let br = links.find((l) => l.name === BRIDGE_NAME);
    if (br && br.kind !== 'bridge') {
      await deleteLink(rtnl, br.index, BRIDGE_NAME);
      br = undefined;
    }
    const created = !br;
    if (!br) {
      if (!fresh) report.devicesCreated++;
      await rtnl.call(
        `create bridge ${BRIDGE_NAME}`,
        (o) => rtnl.rt.newLink({ flags: { up: true }, change: { up: true } }, { ifname: BRIDGE_NAME, mtu, linkinfo: bridgeLinkInfo() }, o),
        NLM_F_CREATE | NLM_F_EXCL,
      );
      br = (await rtnl.links()).find((l) => l.name === BRIDGE_NAME);
      if (!br) throw new NetdError('E_NETLINK', `bridge ${BRIDGE_NAME} vanished right after creation in ${rtnl.netnsPath}`);
    } else if (!br.up || br.mtu !== mtu) {
      await rtnl.call(`set ${BRIDGE_NAME} up, mtu ${mtu}`, (o) => rtnl.rt.setLink({ index: br!.index, flags: { up: true }, change: { up: true } }, { mtu }, o));
      report.linksRepaired++;
    }
    // The gateway address lives on the bridge, as in Docker's overlay namespace.
    const index = br.index;
    const has = (await addresses(rtnl)).some((a) => a.index === index && a.local === net.gateway && a.prefixLen === net.subnet.prefixLen);
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

  /**
   * The load balancer's /32 addresses on br0 (source and VIPs) and br0's MAC 02:42:<source>, so
   * frames other nodes send to the announced MAC reach this namespace. /32 addresses on br0
   * that are not wanted (a VIP whose service left) are removed; the gateway is never touched.
   */
  private async ensureLoadBalancer(rtnl: Rtnl, state: NetworkState, bridge: number, report: ReconcileReport, fresh: boolean): Promise<void> {
    const lb = state.lb;
    if (!state.lbKnown) return;
    const wanted = new Set(lb ? [lb.source, ...lb.vips] : []);
    const present = (await addresses(rtnl)).filter((a) => a.index === bridge && a.prefixLen === 32);
    for (const a of present) {
      if (wanted.has(a.local)) continue;
      await rtnl.tolerate(`remove ${formatIpv4(a.local)}/32 from ${BRIDGE_NAME}`, (o) => rtnl.rt.delAddress({ family: AF_INET, prefixlen: 32, index: bridge }, { local: ipv4Bytes(a.local), address: ipv4Bytes(a.local) }, o), GONE);
    }
    for (const ip of wanted) {
      if (present.some((a) => a.local === ip)) continue;
      await rtnl.call(
        `add ${formatIpv4(ip)}/32 to ${BRIDGE_NAME}`,
        (o) => rtnl.rt.newAddress({ family: AF_INET, prefixlen: 32, index: bridge }, { local: ipv4Bytes(ip), address: ipv4Bytes(ip) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
      if (!fresh && ip === lb?.source) report.addressesRestored++;
    }
    if (!lb) return;
    const mac = containerMac(lb.source);
    const link = (await rtnl.links()).find((l) => l.index === bridge);
    if (link?.mac !== mac) {
      await rtnl.call(`set ${BRIDGE_NAME} address ${mac}`, (o) => rtnl.rt.setLink({ index: bridge }, { address: macBytes(mac) }, o));
      if (!fresh && link?.mac !== undefined && state.programmed) report.linksRepaired++;
    }
  }

  /** Sets (or, with undefined, clears) the network's load-balancer addresses and programs them. */
  async setLoadBalancer(id: NetworkId, lb: { sourceAddress: string; vips: readonly string[] } | undefined): Promise<string> {
    this.ctx.assertOpen();
    return this.ctx.locked(async () => {
      const state = this.ctx.networks.get(id);
      if (!state) throw new NetworkNotFoundError(id, 0);
      if (lb) {
        const source = parseIpv4(lb.sourceAddress);
        if (source === undefined || !contains(state.net.subnet, source) || source === state.net.gateway) {
          throw new NetdValidationError('E_INVALID_ADDRESS', `network ${id}: load-balancer address ${JSON.stringify(lb.sourceAddress)} is not a host address of ${formatIpv4(state.net.subnet.network)}/${state.net.subnet.prefixLen} other than its gateway`);
        }
        const vips = lb.vips.map((v) => {
          const n = parseIpv4(v);
          if (n === undefined || !contains(state.net.subnet, n)) throw new NetdValidationError('E_INVALID_ADDRESS', `network ${id}: VIP ${JSON.stringify(v)} is not an address of the network's subnet`);
          return n;
        });
        state.lb = { source, vips: [...new Set(vips)].filter((v) => v !== source) };
      } else {
        state.lb = undefined;
      }
      state.lbKnown = true;
      if (!state.lb && !state.pinned && state.sandboxes.size === 0) {
        await this.retire(state);
        return this.ctx.netnsPathOf(id);
      }
      const p = await this.program(state, emptyReport());
      return p.netnsPath;
    });
  }

  private vxlanMatches(l: LinkView, net: Network): boolean {
    const v = l.vxlan;
    return l.kind === 'vxlan' && v !== undefined && v.vni === net.vni && v.port === this.ctx.vxlanPort && !v.learning && v.proxy;
  }

  private async ensureVxlan(rtnl: Rtnl, netnsPath: string, net: Network, links: LinkView[], bridge: number, report: ReconcileReport, fresh: boolean): Promise<number> {
    const { host, mtu, vxlanPort } = this.ctx;
    let vx = links.find((l) => l.name === VXLAN_NAME);
    if (vx && !this.vxlanMatches(vx, net)) {
      await deleteLink(rtnl, vx.index, VXLAN_NAME);
      vx = undefined;
    }
    const created = !vx;
    if (!vx) {
      if (!fresh) report.devicesCreated++;
      // Created from the host namespace's socket and placed into the overlay namespace in one
      // request: the device lives with the bridge, its UDP socket stays with the underlay.
      const nsFd = openSync(netnsPath, 'r');
      try {
        await host.call(
          `create ${VXLAN_NAME} (VNI ${net.vni}, port ${vxlanPort}) for network ${net.id}`,
          (o) =>
            host.rt.newLink(
              {},
              {
                ifname: VXLAN_NAME,
                mtu,
                netNsFd: nsFd,
                linkinfo: vxlanLinkInfo({ vni: net.vni, port: vxlanPort, local: ipv4Bytes(parseIpv4(this.ctx.options.advertiseAddress)!) }),
              },
              o,
            ),
          NLM_F_CREATE | NLM_F_EXCL,
        );
      } catch (err) {
        if (err instanceof NetlinkOperationError && err.errnoName === 'EEXIST') {
          throw new NetdValidationError('E_VNI_CONFLICT', `VNI ${net.vni} (network ${net.id}) is already used by another VXLAN device on port ${vxlanPort} in ${host.netnsPath}: ${err.message}`);
        }
        throw err;
      } finally {
        closeSync(nsFd);
      }
      vx = (await rtnl.links()).find((l) => l.name === VXLAN_NAME);
      if (!vx) throw new NetdError('E_NETLINK', `${VXLAN_NAME} did not appear in ${netnsPath} after creation`);
    }
    if (vx.master !== bridge || !vx.up || vx.mtu !== mtu) {
      await rtnl.call(`attach ${VXLAN_NAME} to ${BRIDGE_NAME}`, (o) => rtnl.rt.setLink({ index: vx!.index, flags: { up: true }, change: { up: true } }, { master: bridge, mtu }, o));
      if (!created) report.linksRepaired++;
    }
    return vx.index;
  }

  /** Deletes the network's devices first so its VNI is free at once, then unpins the namespace. */
  async retire(state: NetworkState): Promise<void> {
    const path = this.ctx.netnsPathOf(state.net.id);
    await this.destroyNamespace(path, state.programmed?.rtnl);
    state.programmed = undefined;
    this.ctx.networks.delete(state.net.id);
    this.peers.forget(state.net.id);
  }

  async destroyNamespace(path: string, open?: Rtnl): Promise<void> {
    if (existsSync(path)) {
      const rtnl = open ?? Rtnl.open(path);
      try {
        for (const l of await rtnl.links()) {
          if (l.name === VXLAN_NAME || isOwnedLinkName(l.name)) await deleteLink(rtnl, l.index, l.name);
        }
      } finally {
        await rtnl.close();
      }
      deleteNetnsAt(path);
    } else if (open) {
      await open.close();
    }
  }
}
