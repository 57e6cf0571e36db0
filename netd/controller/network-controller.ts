// The node's network controller: the one place that joins a task's networks to the data plane,
// the embedded DNS and the cluster's gossip (libnetwork's agent.go is the analogue). The agent
// hands it what an assignment says (TaskNetworks) and gets back success or a coded error; only
// this folder imports the overlay plane and the gossip.
//
// A task's sandbox is plumbed (overlay links), its names published (DNS records, a listener at
// 127.0.0.11 inside it) and its endpoints announced (gossip) in one attach, before the task
// starts, so names resolve before RUNNING is reported. A task with a healthcheck joins
// `tasks.<svc>` and dnsrr answers only once healthy, as on Docker. On shutdown the names go
// first, then the links. Network keys from the manager start (or re-key) the gossip.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogFn } from '../../base/index.js';
import { EmbeddedDns, probeInNetns, type ProbeAnswer, type ProbeType } from '../../dns/index.js';
import { NetdError } from '../errors.js';
import { Gossip, type EndpointRecord, type GossipStats, type NetworkKey } from '../gossip/index.js';
import { containerMacOf } from '../ipv4.js';
import { netnsIdentity } from '../netns.js';
import { OverlayDataPlane } from '../overlay/index.js';
import { ClusterEndpoints, type EndpointEntryView } from './cluster-endpoints.js';
import { Reconciler, type ReconcileRun, type ReconcileTotals } from './reconciler.js';
import { RestoreTracker } from './restore.js';
import { openVipBackend, type VipBackendChoice, type LbTimeouts } from '../vip/index.js';
import { LoadBalancers, type LoadBalancersStatus } from './load-balancers.js';
import { HostRules, setSandboxRedirects, type SandboxRedirect } from '../nat/index.js';
import { PublishedPorts, type HostRulesPort } from './published-ports.js';
import type { LbService } from '../vip/index.js';
import {
  checkTaskNetworks,
  ENCRYPTED_OPTION,
  endpointAddress,
  ingressRedirects,
  endpointKey,
  endpointNames,
  localLbEntry,
  overlayAttachments,
  remoteLbEntry,
  remoteRecords,
  serviceRecord,
  stripPrefix,
  taskRecord,
  toNetdAttachment,
  type TaskNetwork,
  type TaskNetworkAttachment,
  type TaskNetworks,
} from './task-networks.js';

/** The gossip key of this node's LB address on a network (one per node and network). */
function lbPeerKey(networkId: string): string {
  return endpointKey('lb', networkId);
}

/** Docker's defaultGossipConvergeDelay: other nodes hear a disabled endpoint before it stops. */
const GOSSIP_CONVERGE_MS = 2_000;
/** A drain waits at most this long for this node's load balancers to apply it. */
const DRAIN_APPLY_CAP_MS = 2_000;

/** How long the first reconcile waits for the gossip to bring the remote endpoints back. */
const GOSSIP_SETTLE_MS = 15_000;

/** What the executor asks of the node's networking for a task's sandbox. */
export interface SandboxNetworking {
  /** True if this node plumbs the task's sandbox (then it gets no engine network): a task on
   *  overlays, and one without networks when networkless tasks go on the gateway bridge. */
  wants(task: TaskNetworks): boolean;
  /**
   * Plumbs the sandbox's netns, publishes the task's names and announces its endpoints;
   * idempotent. `healthy` applies when the task is not published yet (false for a container
   * with a healthcheck: it stays out of `tasks.<service>` and dnsrr answers until setHealthy);
   * a re-attach keeps the health last set.
   */
  attach(task: TaskNetworks, netnsPath: string, opts: { healthy: boolean }): Promise<SandboxAttached>;
  /** Cheap: whether this process attached the task to this very namespace (no kernel walk).
   *  False after a restart of agentd or of the sandbox; then attach again. */
  isAttached(taskId: string, netnsPath: string): boolean;
  /** Only healthy tasks are in their service's answers; the task's own names resolve regardless.
   *  No-op for a task not published. */
  setHealthy(taskId: string, healthy: boolean): void;
  /** First step of a shutdown: the task's names go and every load balancer stops sending it new
   *  connections (draining). Resolves once that is in place here and the cluster has had time
   *  to hear it (`drain`: Docker's 2 s gossip convergence delay before the container stops). */
  unpublish(taskId: string, opts?: { drain?: boolean }): Promise<void>;
  /** Withdraws names, closes the DNS listener, removes links; idempotent. */
  detach(taskId: string): Promise<void>;
}

/** What attach() plumbed that the task's files need to know. */
export interface SandboxAttached {
  /** The sandbox's address on the gateway bridge (bare), for a task without networks: its own
   *  line in /etc/hosts, as a task on the engine's bridge has its bridge address there. */
  gatewayAddress?: string;
}

/** Where a task without networks runs: `gateway` = a sandbox berth plumbs onto its gateway
 *  bridge (egress, the embedded DNS forwarding upstream), made without the engine's networking;
 *  `bridge` = the engine's default bridge (docker0), as on Docker's worker. */
export type NetworklessTasks = 'gateway' | 'bridge';

/** The overlay plane as the controller uses it (a fake stands in for it in unit tests). */
export type OverlayPlane = Pick<OverlayDataPlane, 'attachSandbox' | 'detachSandbox' | 'reconcile' | 'status' | 'createNetwork' | 'removeNetwork' | 'setLoadBalancer'> &
  Partial<Pick<OverlayDataPlane, 'joinGateway' | 'leaveGateway' | 'netnsPathOf'>>;



/** One of this node's network attachments (Node.Attachments): the network and this node's
 *  load-balancer address on it, as the manager allocated them. */
export interface NodeNetworkAttachment {
  network: TaskNetwork;
  /** CIDR, as the manager sends them; the first is the LB address. */
  addresses: readonly string[];
}
/** The embedded DNS as the controller uses it. */
export type SandboxDns = Pick<EmbeddedDns, 'records' | 'openSandbox' | 'closeSandbox' | 'stats'>;

/** The cluster's gossip as the controller uses it. */
export interface ClusterPort {
  gossip: Pick<Gossip, 'setKeys' | 'settled' | 'stats' | 'close'> & Partial<Pick<Gossip, 'members'>>;
  endpoints: Pick<ClusterEndpoints, 'publish' | 'withdraw' | 'setDisabled'> & Partial<Pick<ClusterEndpoints, 'entries'>>;
}

/** What a controller is made of; open() builds the real ones. */
export interface ControllerParts {
  plane: OverlayPlane;
  dns: SandboxDns;
  /** The cluster's gossip; without it, overlays reach only this node's tasks. */
  cluster?: ClusterPort;
  /** The VIP load balancers; without them, services resolve but VIPs answer nothing. */
  lbs?: LoadBalancers;
  /** Published ports and the gateway bridge's masquerade; without them, no egress and no ports. */
  hostRules?: HostRulesPort;
  /** Sandbox-side routing-mesh redirects (published → target port); a fake in unit tests. */
  redirect?: (netnsPath: string, redirects: readonly SandboxRedirect[]) => Promise<void>;
}

export interface NetworkControllerOptions {
  /** This node's underlay address: VXLAN tunnel endpoint and gossip address. */
  advertiseAddress: string;
  /** Where overlay namespaces are pinned. */
  netnsDir?: string;
  /** Data plane drift check period; 0 = once after start. */
  reconcileIntervalMs: number;
  /** Gossip addresses to join: the managers' hosts. */
  gossipSeeds: () => string[];
  /** Which VIP backend balances: auto = IPVS where the kernel has it, else nftables. */
  vipBackend?: VipBackendChoice;
  /** Idle timeouts of balanced connections (seconds). */
  lbTimeouts?: Partial<LbTimeouts>;
  /** How long a draining task waits for the cluster to hear it before it stops (default 2 s). */
  drainDelayMs?: number;
  /** Where tasks without networks run (default gateway). */
  networklessTasks?: NetworklessTasks;
  log: LogFn;
}

export interface NetworkStatus {
  overlay: ReturnType<OverlayDataPlane['status']>;
  dns: ReturnType<EmbeddedDns['stats']>;
  reconcile: { runs: number; last: ReconcileRun | undefined; totals: ReconcileTotals };
  /** The VIP backend in use and this node's load balancers. */
  vip: ({ backend: string } & LoadBalancersStatus) | undefined;
}

/** The cluster's gossip members and what this node holds of other nodes' endpoints, per network. */
export interface NetworkPeers {
  /** This node's gossip name; undefined until the manager sent the keys. */
  node: string | undefined;
  members: Array<{ name: string; address: string; port: number; state: string; incarnation: number }>;
  networks: Array<{ id: string; name: string | undefined; remoteEndpoints: number }>;
  /** With `endpoints`: every live endpoint_table entry, this node's included (who announced
   *  which task name on which network — where a stale or foreign name comes from). */
  endpoints?: EndpointEntryView[];
}

/** This node's load balancers: per network, each service's VIP, ports and backends. */
export interface VipView {
  backend: string | undefined;
  networks: Array<{
    id: string;
    name: string | undefined;
    /** This node's LB address on the network (the source of balanced connections). */
    source: string | undefined;
    error?: string;
    services: Array<{ id: string; name: string | undefined; vip: string | undefined; ports: string[]; backends: Array<{ ip: string; weight: number }> }>;
  }>;
}

export class NetworkController implements SandboxNetworking {
  /** The underlay this controller opened on (set by open()): for agentctl doctor. */
  underlay: { advertiseAddress: string; overlayMtu: number } | undefined;
  /** Names of services and networks seen in tasks and endpoints, for agentctl (ids → names). */
  private readonly names = new Map<string, string>();
  /** Health of each published task: a re-attach (start, wait, a new sandbox) keeps it. */
  private readonly health = new Map<string, boolean>();
  /** Endpoints announced per task: network → key. */
  private readonly published = new Map<string, Map<string, string>>();
  /** Sandboxes attached by this process: task → namespace path and identity. */
  private readonly attached = new Map<string, { netnsPath: string; identity: string | undefined }>();
  private readonly restore = new RestoreTracker();
  /** This node's LB attachments: network → address (bare). */
  private readonly nodeAttachments = new Map<string, { network: TaskNetwork; address: string }>();
  /** What each attached task contributes to load balancers: network → endpoint key. */
  private readonly lbKeys = new Map<string, Array<{ network: string; key: string; task: TaskNetworks; attachment: TaskNetworkAttachment }>>();
  private reconciler: Reconciler | undefined;
  private unwatch: Array<() => void> = [];
  private restoredSignal: () => void = () => undefined;
  private readonly restoredOnce = new Promise<void>((resolve) => (this.restoredSignal = resolve));

  private readonly plane: OverlayPlane;
  private readonly dns: SandboxDns;
  private readonly cluster: ClusterPort | undefined;
  private readonly lbs: LoadBalancers | undefined;
  private readonly ports: PublishedPorts | undefined;
  private readonly redirect: (netnsPath: string, redirects: readonly SandboxRedirect[]) => Promise<void>;
  private readonly log: LogFn;
  private readonly reconcileIntervalMs: number;
  private readonly drainDelayMs: number;
  private readonly networklessTasks: NetworklessTasks;

  constructor(parts: ControllerParts, opts: Pick<NetworkControllerOptions, 'log' | 'reconcileIntervalMs' | 'drainDelayMs' | 'networklessTasks'>) {
    this.plane = parts.plane;
    this.dns = parts.dns;
    this.cluster = parts.cluster;
    this.lbs = parts.lbs;
    this.ports = parts.hostRules && new PublishedPorts(parts.hostRules, opts.log);
    this.redirect = parts.redirect ?? setSandboxRedirects;
    this.log = opts.log;
    this.reconcileIntervalMs = opts.reconcileIntervalMs;
    this.drainDelayMs = opts.drainDelayMs ?? GOSSIP_CONVERGE_MS;
    this.networklessTasks = opts.networklessTasks ?? 'gateway';
  }

  /** Opens the overlay plane, the embedded DNS and the (not yet started) gossip. */
  static async open(opts: NetworkControllerOptions): Promise<NetworkController> {
    const { advertiseAddress, log } = opts;
    const plane = await OverlayDataPlane.open({ advertiseAddress, ...(opts.netnsDir ? { netnsDir: opts.netnsDir } : {}) });
    const dns = await EmbeddedDns.create({}).catch(async (err: unknown) => {
      await plane.close();
      throw err;
    });
    log('info', 'data plane on', { advertise: advertiseAddress, mtu: plane.mtu, vxlanPort: plane.vxlanPort, reconcileIntervalMs: opts.reconcileIntervalMs });
    // Endpoints of tasks on other nodes come from the cluster's gossip, which starts once the
    // manager has sent its keys.
    const gossip = new Gossip({ advertiseAddress, seeds: opts.gossipSeeds, log });
    const endpoints = new ClusterEndpoints(gossip, advertiseAddress, log);
    const vip = await openVipBackend(opts.vipBackend ?? 'auto', { log, ...(opts.lbTimeouts ? { timeouts: opts.lbTimeouts } : {}) }).catch(async (err: unknown) => {
      await plane.close();
      throw err;
    });
    log('info', 'vip backend', { backend: vip.kind, choice: opts.vipBackend ?? 'auto' });
    const bridge = plane.gatewayBridge();
    const hostRules = bridge && new HostRules({ bridgeName: bridge.bridgeName, subnet: bridge.subnet });
    // The callback runs only after an apply, long after `controller` is assigned.
    const lbs = new LoadBalancers(plane, vip, log, (network, services) => controller.lbApplied(network, services));
    const controller = new NetworkController({ plane, dns, cluster: { gossip, endpoints }, lbs, ...(hostRules ? { hostRules } : {}) }, opts);
    controller.underlay = { advertiseAddress, overlayMtu: plane.mtu };
    // Until start() has the resumed tasks back, the kernel keeps balancing as the last process left it.
    lbs.hold();
    controller.ports?.hold();
    controller.unwatch.push(
      plane.watch(gossip.db, (err) => log('warn', 'programming a remote endpoint failed', { err: err.message })),
      endpoints.watchNames({ set: (network, key, r) => controller.setRemote(network, key, r), remove: (network, key) => controller.removeRemote(network, key) }),
    );
    return controller;
  }

  /**
   * agentd --cleanup: removes every kernel object berth owns on this host — overlay namespaces
   * (and the load balancers in them), the gateway bridge, berth's host nftables table and its
   * iptables chain. Run with agentd stopped; tasks' containers are the engine's and stay.
   */
  static async cleanup(opts: Pick<NetworkControllerOptions, 'advertiseAddress' | 'netnsDir' | 'log'>): Promise<void> {
    const plane = await OverlayDataPlane.open({ advertiseAddress: opts.advertiseAddress, ...(opts.netnsDir ? { netnsDir: opts.netnsDir } : {}), mtu: 1450 });
    try {
      const bridge = plane.gatewayBridge();
      const removed = await plane.removeAll();
      if (bridge) await new HostRules({ bridgeName: bridge.bridgeName, subnet: bridge.subnet }).cleanup();
      opts.log('info', 'cleanup done', { namespaces: removed.namespaces.length, gatewayBridge: removed.gatewayBridge, hostRules: bridge !== undefined });
    } finally {
      await plane.close();
    }
  }

  wants(task: TaskNetworks): boolean {
    const wants = overlayAttachments(task).length > 0 || this.onGateway(task);
    if (!wants) this.restore.note(task.taskId);
    return wants;
  }

  /** Whether the task runs on the gateway bridge alone: no networks and no host-mode ports (a
   *  dynamic host port is the engine's to pick), with egress here and networkless tasks put there. */
  private onGateway(task: TaskNetworks): boolean {
    return this.networklessTasks === 'gateway' && this.egress() && task.attachments.length === 0 && task.ports.length === 0;
  }

  private egress(): boolean {
    return this.plane.joinGateway !== undefined && this.ports !== undefined;
  }

  async attach(task: TaskNetworks, netnsPath: string, opts: { healthy: boolean }): Promise<SandboxAttached> {
    try {
      const wire = overlayAttachments(task);
      if (wire.length === 0) return this.onGateway(task) ? await this.attachGatewayOnly(task, netnsPath) : {};
      checkTaskNetworks(task);
      // With egress, the default route goes through the gateway bridge; overlays keep their subnets.
      const egress = this.egress();
      await this.plane.attachSandbox(task.taskId, netnsPath, wire.map((a, i) => ({ ...toNetdAttachment(a, i), defaultGateway: !egress && i === 0 })));
      const gw = egress ? await this.plane.joinGateway!(task.taskId, netnsPath, `eth${wire.length}`) : undefined;
      await this.ports?.setTask(task, gw && stripPrefix(gw.address));
      const redirects = ingressRedirects(task);
      if (redirects.length > 0) await this.redirect(netnsPath, redirects);
      // The routing mesh's network carries no names (Docker resolves nothing on ingress).
      const named = wire.filter((a) => !a.network.ingress);
      this.names.set(task.serviceId, task.serviceName);
      for (const a of wire) this.names.set(a.network.id, a.network.name);
      for (const a of named) this.dns.records.setNetwork({ id: a.network.id, name: a.network.name });
      const healthy = this.health.get(task.taskId) ?? opts.healthy;
      this.dns.records.setTask(taskRecord(task, named, healthy), serviceRecord(task, named));
      this.health.set(task.taskId, healthy);
      await this.dns.openSandbox(task.taskId, netnsPath, named.map((a) => a.network.id));
      this.announce(task, wire, healthy);
      this.balance(task, wire, healthy);
      this.attached.set(task.taskId, { netnsPath, identity: netnsIdentity(netnsPath) });
      this.log('debug', 'sandbox attached', { task: task.taskId, networks: wire.map((a) => a.network.name) });
      return {};
    } finally {
      this.restore.note(task.taskId);
    }
  }

  /** A task without networks: eth0 on the gateway bridge (its default route and egress) and the
   *  embedded DNS, which holds no names for it and forwards upstream; nothing is published. */
  private async attachGatewayOnly(task: TaskNetworks, netnsPath: string): Promise<SandboxAttached> {
    const gw = await this.plane.joinGateway!(task.taskId, netnsPath, 'eth0');
    if (!gw) throw new NetdError('E_NO_GATEWAY', `task ${task.taskId}: the gateway bridge is off on this node; run agentd with --networkless-tasks bridge`);
    await this.dns.openSandbox(task.taskId, netnsPath, []);
    this.attached.set(task.taskId, { netnsPath, identity: netnsIdentity(netnsPath) });
    this.log('debug', 'sandbox attached', { task: task.taskId, networks: [], gateway: gw.address });
    return { gatewayAddress: stripPrefix(gw.address) };
  }

  isAttached(taskId: string, netnsPath: string): boolean {
    const a = this.attached.get(taskId);
    return a !== undefined && a.netnsPath === netnsPath && a.identity !== undefined && a.identity === netnsIdentity(netnsPath);
  }

  setHealthy(taskId: string, healthy: boolean): void {
    // Not published (never attached, or already withdrawn): a late health event must not bring
    // the names back.
    if (!this.health.has(taskId) || this.health.get(taskId) === healthy) return;
    this.health.set(taskId, healthy);
    this.dns.records.setTaskHealthy(taskId, healthy);
    for (const key of this.published.get(taskId)?.values() ?? []) this.cluster?.endpoints.setDisabled(key, !healthy);
    // An unhealthy task leaves its load balancers at once (its established connections too);
    // it comes back when healthy.
    for (const b of this.lbKeys.get(taskId) ?? []) {
      const entry = healthy ? localLbEntry(b.task, b.attachment, 1) : undefined;
      if (entry) this.lbs?.setBackend(b.network, b.key, entry);
      else this.lbs?.removeBackend(b.network, b.key);
    }
    this.log('debug', healthy ? 'task healthy: in its service answers' : 'task not healthy: out of its service answers', { task: taskId });
  }

  private announce(task: TaskNetworks, wire: readonly TaskNetworkAttachment[], healthy: boolean): void {
    const endpoints = this.cluster?.endpoints;
    if (!endpoints || this.published.has(task.taskId)) return;
    const keys = new Map<string, string>();
    for (const a of wire) {
      const addr = endpointAddress(a);
      const mac = addr && containerMacOf(addr.ip);
      if (!addr || !mac) continue;
      const key = endpointKey(task.taskId, a.network.id);
      endpoints.publish(a.network.id, key, { ...addr, mac }, endpointNames(task, a), { disabled: !healthy });
      keys.set(a.network.id, key);
    }
    this.published.set(task.taskId, keys);
  }

  /** The task as a backend of its service's load balancer on each network with one (healthy
   *  tasks only: one with a healthcheck joins once it passes). */
  private balance(task: TaskNetworks, wire: readonly TaskNetworkAttachment[], healthy: boolean): void {
    if (!this.lbs || this.lbKeys.has(task.taskId)) return;
    const keys = [];
    for (const a of wire) {
      const key = endpointKey(task.taskId, a.network.id);
      const entry = localLbEntry(task, a, 1);
      if (!entry) continue;
      keys.push({ network: a.network.id, key, task, attachment: a });
      if (healthy) this.lbs.setBackend(a.network.id, key, entry);
    }
    this.lbKeys.set(task.taskId, keys);
  }

  /** After each load-balancer apply: the routing mesh's ports follow the ingress network's services. */
  lbApplied(network: string, services: readonly LbService[]): void {
    if (this.nodeAttachments.get(network)?.network.ingress) this.ports?.setIngressServices(services);
  }

  /**
   * First step of a shutdown: names stop resolving, other nodes learn the endpoint is disabled
   * (service_disabled, as Docker's disableServiceInNetworkDB) and every load balancer stops
   * sending it new connections while established ones drain (weight 0). With `drain`, waits
   * until this node's load balancers have applied it and then for the gossip to carry it
   * (Docker sleeps 2 s here too), so the container stops only once nothing sends it new work.
   * detach() removes it.
   */
  async unpublish(taskId: string, opts: { drain?: boolean } = {}): Promise<void> {
    for (const key of this.published.get(taskId)?.values() ?? []) this.cluster?.endpoints.setDisabled(key, true);
    const backends = this.lbKeys.get(taskId) ?? [];
    for (const b of backends) this.lbs?.setWeight(b.network, b.key, 0);
    this.health.delete(taskId);
    this.dns.records.removeTask(taskId);
    if (!opts.drain || backends.length === 0 || !this.lbs) return;
    await Promise.race([this.lbs.settled(), sleep(DRAIN_APPLY_CAP_MS)]);
    if (this.cluster && this.published.get(taskId)?.size) await sleep(this.drainDelayMs);
  }

  async detach(taskId: string): Promise<void> {
    try {
      await this.unpublish(taskId);
      for (const [network, key] of this.published.get(taskId) ?? []) this.cluster?.endpoints.withdraw(network, key);
      this.published.delete(taskId);
      for (const b of this.lbKeys.get(taskId) ?? []) this.lbs?.removeBackend(b.network, b.key);
      this.lbKeys.delete(taskId);
      this.attached.delete(taskId);
      await this.dns.closeSandbox(taskId);
      await this.ports?.removeTask(taskId);
      await this.plane.leaveGateway?.(taskId);
      await this.plane.detachSandbox(taskId);
    } finally {
      this.restore.note(taskId);
    }
  }

  /** Another node's task on one of the cluster's networks. A bad record is dropped alone (the
   *  DNS counts it); it never stops the others. */
  setRemote(network: string, key: string, record: EndpointRecord): void {
    const { task, service } = remoteRecords(key, network, record);
    if (record.serviceId && record.serviceName) this.names.set(record.serviceId, record.serviceName);
    try {
      this.dns.records.setTask(task, service);
    } catch (err) {
      this.log('debug', 'endpoint_table entry dropped', { key, err: (err as Error).message });
      this.lbs?.removeBackend(network, key);
      return;
    }
    const entry = remoteLbEntry(record);
    if (entry) this.lbs?.setBackend(network, key, entry);
    else this.lbs?.removeBackend(network, key);
  }

  removeRemote(network: string, key: string): void {
    this.dns.records.removeTask(key);
    this.lbs?.removeBackend(network, key);
  }

  /**
   * This node's network attachments from the manager (SwarmKit's Executor.Configure with
   * Node.Attachments): one LB address per overlay network the node's tasks use, plus ingress.
   * Each such network gets its namespace (pinned while attached), the address on br0 and in the
   * gossip (other nodes' backends reply to it), and a load balancer once services appear.
   */
  async setNodeAttachments(attachments: readonly NodeNetworkAttachment[]): Promise<void> {
    const wanted = new Map<string, { network: TaskNetwork; address: string }>();
    for (const a of attachments) {
      const address = a.addresses[0];
      if (!address || a.network.driver !== 'overlay' || !a.network.subnet) continue;
      wanted.set(a.network.id, { network: a.network, address });
    }
    for (const [id, was] of this.nodeAttachments) {
      const now = wanted.get(id);
      if (now && now.address === was.address) continue;
      this.nodeAttachments.delete(id);
      this.lbs?.setSource(id, was.network.subnet ?? '', undefined);
      this.cluster?.endpoints.withdraw(id, lbPeerKey(id));
      if (was.network.ingress) {
        await this.ports?.setIngressAddress(undefined).catch(() => undefined);
        await this.plane.leaveGateway?.(`ingress-${id}`).catch(() => undefined);
      }
      await this.plane.removeNetwork(id).catch((err: Error) => this.log('warn', 'removing a network this node no longer balances on failed', { network: id, err: err.message }));
      this.log('info', 'network attachment removed', { network: was.network.name, address: was.address });
    }
    for (const [id, a] of wanted) {
      if (this.nodeAttachments.has(id)) continue;
      const netd = toNetdAttachment({ network: a.network, addresses: [a.address], aliases: [], serviceAliases: [], vips: [] }, 1);
      if (!netd.network) continue;
      try {
        if (ENCRYPTED_OPTION in a.network.driverOptions) throw new Error('encrypted network: not programmed (IPsec is not built)');
        await this.plane.createNetwork(netd.network);
      } catch (err) {
        this.log('warn', 'network attachment not programmed', { network: a.network.name, err: (err as Error).message });
        continue;
      }
      this.nodeAttachments.set(id, a);
      this.names.set(id, a.network.name);
      const ip = stripPrefix(a.address);
      this.lbs?.setSource(id, a.network.subnet ?? '', ip);
      const addr = endpointAddress({ network: a.network, addresses: [a.address], aliases: [], serviceAliases: [], vips: [] });
      const mac = containerMacOf(ip);
      if (addr && mac) this.cluster?.endpoints.publish(id, lbPeerKey(id), { ...addr, mac }, undefined);
      if (a.network.ingress) await this.connectIngress(id);
      this.log('info', 'network attachment', { network: a.network.name, address: a.address, ingress: a.network.ingress });
    }
  }

  /** The routing mesh's entry: the ingress namespace (Docker's ingress-sbox) joins the gateway
   *  bridge, and published ports on this host's addresses are DNAT-ed to it. */
  private async connectIngress(networkId: string): Promise<void> {
    if (!this.plane.joinGateway || !this.plane.netnsPathOf || !this.ports) return;
    try {
      // createNetwork made (or kept) the namespace; its addresses are the load balancer's to set.
      const netnsPath = this.plane.netnsPathOf(networkId);
      const gw = await this.plane.joinGateway(`ingress-${networkId}`, netnsPath, 'gw0');
      await this.ports.setIngressAddress(gw && stripPrefix(gw.address));
    } catch (err) {
      this.log('warn', 'routing mesh not connected', { network: networkId, err: (err as Error).message });
    }
  }

  /** The manager's network bootstrap keys (SwarmKit's SetNetworkBootstrapKeys): they start the
   *  gossip, and re-key it on rotation. */
  setNetworkBootstrapKeys(keys: readonly NetworkKey[]): void {
    this.cluster?.gossip.setKeys(keys);
  }

  /**
   * Starts the periodic reconcile. Its first run waits until every task in `resuming()` (the
   * tasks a restarted agent resumes whose sandboxes may own links) has been attached or
   * detached again, and for the gossip to bring the remote endpoints back: before that, live
   * objects look stale.
   */
  start(resuming: () => Iterable<string>): void {
    const gossip = this.cluster?.gossip;
    const ready = this.restore.restored(resuming, this.log).then(() => gossip?.settled(GOSSIP_SETTLE_MS));
    // Load balancers and published ports follow once the resumed tasks are attached again and
    // the gossip has brought other nodes' backends back (a service backed only elsewhere would
    // otherwise vanish for a moment).
    void ready
      .then(async () => {
        this.lbs?.release();
        await this.ports?.release();
      })
      .catch((err: Error) => this.log('warn', 'host rules not written', { err: err.message }))
      .finally(() => this.restoredSignal());
    // The overlay plane, then berth's host rules and every load balancer, put back as wanted.
    const whole = {
      reconcile: async () => {
        const report = await this.plane.reconcile();
        await this.ports?.ensure();
        await this.lbs?.resync();
        return report;
      },
    };
    this.reconciler = new Reconciler(whole, { intervalMs: this.reconcileIntervalMs, ready, log: this.log });
    this.reconciler.start();
  }

  /**
   * Resolves once start() has desired state back — resumed tasks plumbed again, the gossip's
   * endpoints in, load balancers and published ports written — or has given up waiting for it
   * (its bounds): what agentd waits for before it tells systemd it is ready.
   */
  restored(): Promise<void> {
    return this.restoredOnce;
  }

  /** The embedded DNS's counters alone (agentctl status reads them without the whole status). */
  dnsStats(): NetworkStatus['dns'] {
    return this.dns.stats();
  }

  /** The VIP backend in use (ipvs, nftables), or undefined without load balancers. */
  vipBackend(): string | undefined {
    return this.lbs?.kind;
  }

  status(): NetworkStatus {
    return {
      overlay: this.plane.status(),
      dns: this.dns.stats(),
      reconcile: { runs: this.reconciler?.runs ?? 0, last: this.reconciler?.last, totals: this.reconciler?.totals ?? { repaired: {}, failed: 0 } },
      vip: this.lbs ? { backend: this.lbs.kind, ...this.lbs.status() } : undefined,
    };
  }

  /**
   * Asks the embedded DNS from inside the task's sandbox, as the task would (agentctl dns): the
   * same listener, the same view (names of the sandbox's networks only), the same forwarder.
   */
  async resolveAs(taskId: string, name: string, type: ProbeType): Promise<ProbeAnswer & { netnsPath: string }> {
    const a = this.attached.get(taskId);
    if (!a) {
      throw new NetdError('E_TASK_NOT_ATTACHED', `task ${taskId} has no sandbox on an overlay network attached here (not on this node, not on an overlay, or not started yet): agentctl tasks lists this node's tasks`, { temporary: false });
    }
    return { ...(await probeInNetns(a.netnsPath, name, type)), netnsPath: a.netnsPath };
  }

  /** The task's sandbox namespace, when this process attached it. */
  sandboxOf(taskId: string): string | undefined {
    return this.attached.get(taskId)?.netnsPath;
  }

  peers(opts: { endpoints?: boolean } = {}): NetworkPeers {
    const gossip = this.cluster?.gossip;
    const peers: NetworkPeers = {
      node: gossip?.stats()?.node,
      members: gossip?.members?.() ?? [],
      networks: this.plane.status().networks.map((n) => ({ id: n.id, name: this.names.get(n.id), remoteEndpoints: n.remoteEndpoints })),
    };
    if (opts.endpoints) peers.endpoints = this.cluster?.endpoints.entries?.((id) => this.names.get(id)) ?? [];
    return peers;
  }

  vips(): VipView {
    return {
      backend: this.lbs?.kind,
      networks: (this.lbs?.services() ?? []).map((n) => ({
        id: n.id,
        name: this.names.get(n.id),
        source: n.source,
        ...(n.error ? { error: n.error } : {}),
        services: n.services.map((svc) => ({ id: svc.key, name: this.names.get(svc.key), vip: svc.vip, ports: svc.ports.map((p) => `${p.port}/${p.protocol}`), backends: svc.backends.map((b) => ({ ip: b.ip, weight: b.weight })) })),
      })),
    };
  }

  /** Resolves once every queued load-balancer change is applied (tests, agentctl). */
  settled(): Promise<void> {
    return this.lbs?.settled() ?? Promise.resolve();
  }

  gossipStats(): GossipStats | undefined {
    return this.cluster?.gossip.stats();
  }

  /** Stops reconciling and gossiping; leaves the kernel state and the tasks' traffic running. */
  async close(): Promise<void> {
    for (const stop of this.unwatch) stop();
    this.unwatch = [];
    await Promise.all([this.reconciler?.stop(), this.cluster?.gossip.close()]);
  }
}
