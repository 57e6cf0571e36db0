// The overlay data plane on one host: per network a namespace holding br0 + vxlan0 (its UDP
// socket in the host namespace, as Docker's driver has it), per sandbox a veth from br0 into the
// sandbox as ethN, per remote endpoint a permanent neighbour and an FDB entry on vxlan0.
//
// Every mutation runs under one lock and is check-then-repair against the kernel, so calling
// attachSandbox again after a restart keeps working links untouched (established flows survive)
// and reconcile() removes what berth owns but no longer wants and puts back what drifted.
//
// This file is the façade; the work is split as libnetwork splits its overlay driver:
// networks.ts (namespace + br0 + vxlan0), sandboxes.ts (join/leave), peers.ts (neighbour + FDB),
// reconcile.ts (the repair walk), all sharing one OverlayContext (state and the lock).
import { DEFAULT_NETNS_DIR } from '../../base/index.js';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetdError, NetdValidationError } from '../errors.js';
import { ipv4FromBytes, parseIpv4 } from '../ipv4.js';
import type { ClusterTables, Endpoint, NetworkAttachment, NetworkId, OverlayNetworkSpec, OverlayOptions, ReconcileReport, SandboxInterface, TaskId } from '../types.js';
import { OverlayContext } from './context.js';
import { checkNamePrefix, isOverlayNetnsName } from './naming.js';
import { Networks } from './networks.js';
import { Peers } from './peers.js';
import { reconcile } from './reconcile.js';
import { AF_INET, Rtnl } from './rtnl.js';
import { Sandboxes } from './sandboxes.js';
import { GatewayBridge, type GatewayJoin } from './gateway.js';

const DEFAULT_VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
const VXLAN_OVERHEAD = 50;
const DEFAULT_NAME_PREFIX = 'berth-';
const DEFAULT_NETWORK_WAIT_MS = 5_000;
const SELF_NETNS = '/proc/self/ns/net';
const MIN_MTU = 576;
const MAX_MTU = 65_535;
const MAX_PORT = 65_535;

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
  private readonly ctx: OverlayContext;
  private readonly peers: Peers;
  private readonly networks: Networks;
  private readonly sandboxes: Sandboxes;
  /** Egress for sandboxes (and the ingress namespace); undefined when turned off. */
  private readonly gateway: GatewayBridge | undefined;
  /** What joined the gateway bridge: key → namespace and interface (reconcile repairs them). */
  private readonly gatewayMembers = new Map<string, { netnsPath: string; ifname: string }>();
  private readonly gatewayKeys = new Set<string>();
  private gatewayUsed = false;

  private constructor(options: OverlayOptions, host: Rtnl, mtu: number) {
    this.mtu = mtu;
    this.vxlanPort = options.vxlanPort ?? DEFAULT_VXLAN_PORT;
    this.ctx = new OverlayContext(options, host, {
      mtu,
      vxlanPort: this.vxlanPort,
      netnsDir: options.netnsDir ?? DEFAULT_NETNS_DIR,
      prefix: options.namePrefix ?? DEFAULT_NAME_PREFIX,
      networkWaitMs: options.networkWaitMs ?? DEFAULT_NETWORK_WAIT_MS,
    });
    this.peers = new Peers(this.ctx);
    this.networks = new Networks(this.ctx, this.peers);
    this.sandboxes = new Sandboxes(this.ctx, this.networks);
    this.gateway = options.gateway === false ? undefined : new GatewayBridge(host, { ...(options.gateway ?? {}), ...(options.hostNetns ? { hostNetns: options.hostNetns } : {}) });
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
  createNetwork(spec: OverlayNetworkSpec): Promise<void> {
    return this.networks.createNetwork(spec);
  }

  /** Drops the pin; the namespace goes once no sandbox uses the network. */
  removeNetwork(id: NetworkId): Promise<void> {
    return this.networks.removeNetwork(id);
  }

  /**
   * This node's load balancer on the network (Docker's lb_<network>): `sourceAddress` (the
   * node's LB address from Node.Attachments) and `vips`, all /32 on the network's br0, whose MAC
   * becomes 02:42:<source>. The namespace stays while set. Returns the namespace's path, where
   * a VIP backend then balances. Undefined clears it.
   */
  setLoadBalancer(id: NetworkId, lb: { sourceAddress: string; vips: readonly string[] } | undefined): Promise<string> {
    return this.networks.setLoadBalancer(id, lb);
  }

  /** The pinned namespace file of a network (whether or not it exists yet). */
  netnsPathOf(id: NetworkId): string {
    return this.ctx.netnsPathOf(id);
  }

  // ---- sandboxes ----

  /**
   * Plumbs the sandbox at `netnsPath` into each attachment's network as eth0, eth1, … in the
   * order given. Idempotent: links that are already right are kept as they are.
   */
  attachSandbox(taskId: TaskId, netnsPath: string, attachments: readonly NetworkAttachment[]): Promise<SandboxInterface[]> {
    return this.sandboxes.attachSandbox(taskId, netnsPath, attachments);
  }

  detachSandbox(taskId: TaskId): Promise<void> {
    return this.sandboxes.detachSandbox(taskId);
  }

  // ---- egress (the gateway bridge) ----

  /** The gateway bridge's name and subnet, or undefined when egress is off. */
  gatewayBridge(): { bridgeName: string; subnet: string; gateway: string } | undefined {
    const g = this.gateway;
    return g && { bridgeName: g.bridgeName, subnet: g.subnet, gateway: g.gateway };
  }

  /**
   * Gives the namespace egress: a veth `ifname` on the gateway bridge, an address, and the
   * default route through the bridge (masqueraded by the host rules). Overlay subnets stay on
   * their own links, so the overlay is still preferred for them. Idempotent.
   */
  async joinGateway(key: string, netnsPath: string, ifname: string): Promise<GatewayJoin | undefined> {
    if (!this.gateway) return undefined;
    this.ctx.assertOpen();
    this.gatewayUsed = true;
    // Wanted before its veth exists: a reconcile running meanwhile must not take it for a stray.
    const previous = this.gatewayMembers.get(key);
    this.gatewayMembers.set(key, { netnsPath, ifname });
    this.gatewayKeys.add(key);
    try {
      await this.gateway.ensure();
      return await this.gateway.join(key, netnsPath, ifname);
    } catch (err) {
      if (previous) this.gatewayMembers.set(key, previous);
      else {
        this.gatewayMembers.delete(key);
        this.gatewayKeys.delete(key);
      }
      throw err;
    }
  }

  async leaveGateway(key: string): Promise<void> {
    if (!this.gateway || !this.gatewayMembers.delete(key)) return;
    this.gatewayKeys.delete(key);
    await this.gateway.leave(key);
  }

  // ---- remote endpoints ----

  addRemoteEndpoint(e: Endpoint): Promise<void> {
    return this.peers.addRemoteEndpoint(e);
  }

  removeRemoteEndpoint(e: Endpoint): Promise<void> {
    return this.peers.removeRemoteEndpoint(e);
  }

  /** Many changes at once; all are validated before any is applied. */
  applyEndpoints(added: readonly Endpoint[], removed: readonly Endpoint[] = []): Promise<void> {
    return this.peers.applyEndpoints(added, removed);
  }

  /** Follows a ClusterTables: seeds each network from it when defined, then applies its events. */
  watch(tables: ClusterTables, onError: (err: Error) => void = () => undefined): () => void {
    return this.peers.watch(tables, onError);
  }

  /** Resolves once every change queued before the call (endpoint events included) is applied. */
  settled(): Promise<void> {
    return this.peers.settled();
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
    const report = await reconcile(this.ctx, this.networks, this.sandboxes);
    // Only once something joined: a plane that never gave egress creates no bridge.
    if (this.gateway && this.gatewayUsed) {
      await this.gateway.ensure();
      for (const [key, m] of [...this.gatewayMembers]) {
        if (!existsSync(m.netnsPath)) continue;
        if ((await this.gateway.join(key, m.netnsPath, m.ifname)).repaired) report.sandboxesRepaired++;
      }
      // The live set: read under the gateway's lock, so a join that began meanwhile counts.
      report.linksRemoved += await this.gateway.stray(this.gatewayKeys);
    }
    return report;
  }

  /**
   * Removes everything this plane's settings own (agentd --cleanup, with agentd stopped): every
   * overlay namespace pinned in netnsDir under the prefix (their load balancers go with them)
   * and the gateway bridge with its veths. Returns what it removed.
   */
  async removeAll(): Promise<{ namespaces: string[]; gatewayBridge: boolean }> {
    const namespaces: string[] = [];
    await this.ctx.locked(async () => {
      const dir = this.ctx.netnsDir;
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        if (!isOverlayNetnsName(this.ctx.prefix, name)) continue;
        await this.networks.destroyNamespace(join(dir, name));
        namespaces.push(name);
      }
      this.ctx.networks.clear();
      this.ctx.sandboxes.clear();
    });
    const hadBridge = this.gateway !== undefined && (await this.ctx.host.linkByName(this.gateway.bridgeName)) !== undefined;
    await this.gateway?.remove();
    this.gatewayMembers.clear();
    this.gatewayKeys.clear();
    return { namespaces, gatewayBridge: hadBridge };
  }

  /** What this process believes is programmed (for agentctl and tests). */
  status(): { networks: Array<{ id: string; vni: number; netnsPath: string; sandboxes: number; remoteEndpoints: number; programmed: boolean }>; sandboxes: number; rejectedEndpoints: number } {
    return {
      networks: [...this.ctx.networks.values()].map((s) => ({
        id: s.net.id,
        vni: s.net.vni,
        netnsPath: this.ctx.netnsPathOf(s.net.id),
        sandboxes: s.sandboxes.size,
        remoteEndpoints: this.peers.size(s.net.id) ?? 0,
        programmed: s.programmed !== undefined,
      })),
      sandboxes: this.ctx.sandboxes.size,
      rejectedEndpoints: this.peers.rejectedEndpoints(),
    };
  }

  /** Closes netlink sockets and timers; leaves the kernel state running (tasks keep talking). */
  async close(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.closed) return;
    await ctx.locked(async () => {
      ctx.closed = true;
      for (const s of ctx.networks.values()) {
        await s.programmed?.rtnl.close();
        s.programmed = undefined;
      }
      await ctx.host.close();
    });
  }
}
