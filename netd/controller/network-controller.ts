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
import type { LogFn } from '../../base/index.js';
import { EmbeddedDns } from '../../dns/index.js';
import { Gossip, type EndpointRecord, type GossipStats, type NetworkKey } from '../gossip/index.js';
import { containerMacOf } from '../ipv4.js';
import { netnsIdentity } from '../netns.js';
import { OverlayDataPlane } from '../overlay/index.js';
import { ClusterEndpoints } from './cluster-endpoints.js';
import { Reconciler, type ReconcileRun } from './reconciler.js';
import { RestoreTracker } from './restore.js';
import {
  endpointAddress,
  endpointKey,
  endpointNames,
  overlayAttachments,
  remoteRecords,
  serviceRecord,
  taskRecord,
  toNetdAttachment,
  type TaskNetworkAttachment,
  type TaskNetworks,
} from './task-networks.js';

/** How long the first reconcile waits for the gossip to bring the remote endpoints back. */
const GOSSIP_SETTLE_MS = 15_000;

/** What the executor asks of the node's networking for a task's sandbox. */
export interface SandboxNetworking {
  /** True if the task has networks this node programs (then its sandbox gets no engine network). */
  wants(task: TaskNetworks): boolean;
  /**
   * Plumbs the sandbox's netns, publishes the task's names and announces its endpoints;
   * idempotent. `healthy` applies when the task is not published yet (false for a container
   * with a healthcheck: it stays out of `tasks.<service>` and dnsrr answers until setHealthy);
   * a re-attach keeps the health last set.
   */
  attach(task: TaskNetworks, netnsPath: string, opts: { healthy: boolean }): Promise<void>;
  /** Cheap: whether this process attached the task to this very namespace (no kernel walk).
   *  False after a restart of agentd or of the sandbox; then attach again. */
  isAttached(taskId: string, netnsPath: string): boolean;
  /** Only healthy tasks are in their service's answers; the task's own names resolve regardless.
   *  No-op for a task not published. */
  setHealthy(taskId: string, healthy: boolean): void;
  /** Withdraws the task's names and endpoints (first step of a shutdown). */
  unpublish(taskId: string): void;
  /** Withdraws names, closes the DNS listener, removes links; idempotent. */
  detach(taskId: string): Promise<void>;
}

/** The overlay plane as the controller uses it (a fake stands in for it in unit tests). */
export type OverlayPlane = Pick<OverlayDataPlane, 'attachSandbox' | 'detachSandbox' | 'reconcile' | 'status'>;
/** The embedded DNS as the controller uses it. */
export type SandboxDns = Pick<EmbeddedDns, 'records' | 'openSandbox' | 'closeSandbox' | 'stats'>;

/** The cluster's gossip as the controller uses it. */
export interface ClusterPort {
  gossip: Pick<Gossip, 'setKeys' | 'settled' | 'stats' | 'close'>;
  endpoints: Pick<ClusterEndpoints, 'publish' | 'withdraw'>;
}

/** What a controller is made of; open() builds the real ones. */
export interface ControllerParts {
  plane: OverlayPlane;
  dns: SandboxDns;
  /** The cluster's gossip; without it, overlays reach only this node's tasks. */
  cluster?: ClusterPort;
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
  log: LogFn;
}

export interface NetworkStatus {
  overlay: ReturnType<OverlayDataPlane['status']>;
  dns: ReturnType<EmbeddedDns['stats']>;
  reconcile: { runs: number; last: ReconcileRun | undefined };
}

export class NetworkController implements SandboxNetworking {
  /** Health of each published task: a re-attach (start, wait, a new sandbox) keeps it. */
  private readonly health = new Map<string, boolean>();
  /** Endpoints announced per task: network → key. */
  private readonly published = new Map<string, Map<string, string>>();
  /** Sandboxes attached by this process: task → namespace path and identity. */
  private readonly attached = new Map<string, { netnsPath: string; identity: string | undefined }>();
  private readonly restore = new RestoreTracker();
  private reconciler: Reconciler | undefined;
  private unwatch: Array<() => void> = [];

  private readonly plane: OverlayPlane;
  private readonly dns: SandboxDns;
  private readonly cluster: ClusterPort | undefined;
  private readonly log: LogFn;
  private readonly reconcileIntervalMs: number;

  constructor(parts: ControllerParts, opts: Pick<NetworkControllerOptions, 'log' | 'reconcileIntervalMs'>) {
    this.plane = parts.plane;
    this.dns = parts.dns;
    this.cluster = parts.cluster;
    this.log = opts.log;
    this.reconcileIntervalMs = opts.reconcileIntervalMs;
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
    const controller = new NetworkController({ plane, dns, cluster: { gossip, endpoints } }, opts);
    controller.unwatch.push(
      plane.watch(gossip.db, (err) => log('warn', 'programming a remote endpoint failed', { err: err.message })),
      endpoints.watchNames({ set: (network, key, r) => controller.setRemote(network, key, r), remove: (key) => controller.removeRemote(key) }),
    );
    return controller;
  }

  wants(task: TaskNetworks): boolean {
    const wants = overlayAttachments(task).length > 0;
    if (!wants) this.restore.note(task.taskId);
    return wants;
  }

  async attach(task: TaskNetworks, netnsPath: string, opts: { healthy: boolean }): Promise<void> {
    try {
      const wire = overlayAttachments(task);
      if (wire.length === 0) return;
      await this.plane.attachSandbox(task.taskId, netnsPath, wire.map(toNetdAttachment));
      for (const a of wire) this.dns.records.setNetwork({ id: a.network.id, name: a.network.name });
      const healthy = this.health.get(task.taskId) ?? opts.healthy;
      this.dns.records.setTask(taskRecord(task, wire, healthy), serviceRecord(task, wire));
      this.health.set(task.taskId, healthy);
      await this.dns.openSandbox(task.taskId, netnsPath, wire.map((a) => a.network.id));
      this.announce(task, wire);
      this.attached.set(task.taskId, { netnsPath, identity: netnsIdentity(netnsPath) });
      this.log('debug', 'sandbox attached', { task: task.taskId, networks: wire.map((a) => a.network.name) });
    } finally {
      this.restore.note(task.taskId);
    }
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
    this.log('debug', healthy ? 'task healthy: in its service answers' : 'task not healthy: out of its service answers', { task: taskId });
  }

  private announce(task: TaskNetworks, wire: readonly TaskNetworkAttachment[]): void {
    const endpoints = this.cluster?.endpoints;
    if (!endpoints || this.published.has(task.taskId)) return;
    const keys = new Map<string, string>();
    for (const a of wire) {
      const addr = endpointAddress(a);
      const mac = addr && containerMacOf(addr.ip);
      if (!addr || !mac) continue;
      const key = endpointKey(task.taskId, a.network.id);
      endpoints.publish(a.network.id, key, { ...addr, mac }, endpointNames(task, a));
      keys.set(a.network.id, key);
    }
    this.published.set(task.taskId, keys);
  }

  /** Names stop resolving before the container is stopped; other nodes stop sending to it. */
  unpublish(taskId: string): void {
    for (const [network, key] of this.published.get(taskId) ?? []) this.cluster?.endpoints.withdraw(network, key);
    this.published.delete(taskId);
    this.health.delete(taskId);
    this.dns.records.removeTask(taskId);
  }

  async detach(taskId: string): Promise<void> {
    try {
      this.unpublish(taskId);
      this.attached.delete(taskId);
      await this.dns.closeSandbox(taskId);
      await this.plane.detachSandbox(taskId);
    } finally {
      this.restore.note(taskId);
    }
  }

  /** Another node's task on one of the cluster's networks. A bad record is dropped alone (the
   *  DNS counts it); it never stops the others. */
  setRemote(network: string, key: string, record: EndpointRecord): void {
    const { task, service } = remoteRecords(key, network, record);
    try {
      this.dns.records.setTask(task, service);
    } catch (err) {
      this.log('debug', 'endpoint_table entry dropped', { key, err: (err as Error).message });
    }
  }

  removeRemote(key: string): void {
    this.dns.records.removeTask(key);
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
    this.reconciler = new Reconciler(this.plane, { intervalMs: this.reconcileIntervalMs, ready, log: this.log });
    this.reconciler.start();
  }

  status(): NetworkStatus {
    return { overlay: this.plane.status(), dns: this.dns.stats(), reconcile: { runs: this.reconciler?.runs ?? 0, last: this.reconciler?.last } };
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
