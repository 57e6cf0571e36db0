// This node's load balancers, one per network it has an LB address on (Node.Attachments): the
// services' VIPs and routing-mesh ports, and their backends — this node's tasks and other
// nodes' (endpoint_table), Docker's included — handed to the VIP backend as one declarative
// spec per network. Changes are coalesced: a burst of events costs one apply per network.
//
// Weights carry the lifecycle: 1 = serving; 0 = draining (a task shutting down, or another
// node's entry that says service_disabled): no new connections, established ones finish;
// absent = gone (an unhealthy local task leaves at once).
import type { LogFn } from '../../base/index.js';
import type { LbPort, LbService, VipBackend } from '../vip/index.js';
import { vipSyncEvents } from '../events.js';

export interface LbBackendEntry {
  serviceId: string;
  ip: string;
  weight: number;
  /** The service's VIP on this network, if it has one (vip endpoint mode). */
  vip?: string;
  /** Routing-mesh ports (ingress network only). */
  ports: readonly LbPort[];
}

/** The overlay plane as the load balancers use it. */
export interface LbPlane {
  setLoadBalancer(id: string, lb: { sourceAddress: string; vips: readonly string[] } | undefined): Promise<string>;
}

interface NetworkLb {
  id: string;
  subnet: string;
  source: string | undefined;
  backends: Map<string, LbBackendEntry>;
  /** service id → the keys of its backends, and its spec as last built. */
  byService: Map<string, Set<string>>;
  services: Map<string, LbService>;
  /** Services whose spec must be rebuilt from their backends. */
  stale: Set<string>;
  /** Services touched since the last successful apply; undefined = all (first apply, a source
   *  change, a failure): the backend then diffs everything. */
  changed: Set<string> | undefined;
  /** The namespace the backend last applied to (undefined: nothing of berth's there). */
  netnsPath: string | undefined;
  dirty: boolean;
  running: Promise<void> | undefined;
  lastError: string | undefined;
  /** What the last successful apply put in the kernel: the services and their backend count. */
  applied: { services: number; backends: number };
}

export interface LoadBalancersStatus {
  networks: Array<{ id: string; source: string | undefined; services: number; backends: number; error?: string }>;
}

/** The spec's services from a network's backend entries: grouped by service, ports merged,
 *  one backend per address (the highest weight wins). Pure. */
export function lbServices(entries: Iterable<LbBackendEntry>): LbService[] {
  const byService = new Map<string, { vip: string | undefined; ports: Map<string, LbPort>; backends: Map<string, number> }>();
  for (const e of entries) {
    let s = byService.get(e.serviceId);
    if (!s) byService.set(e.serviceId, (s = { vip: undefined, ports: new Map(), backends: new Map() }));
    s.vip ??= e.vip;
    for (const p of e.ports) s.ports.set(`${p.protocol}/${p.port}`, p);
    s.backends.set(e.ip, Math.max(s.backends.get(e.ip) ?? 0, e.weight));
  }
  const out: LbService[] = [];
  for (const [key, s] of [...byService].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!s.vip && s.ports.size === 0) continue;
    out.push({
      key,
      ...(s.vip ? { vip: s.vip } : {}),
      ports: [...s.ports.values()],
      backends: [...s.backends].map(([ip, weight]) => ({ ip, weight })).sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)),
    });
  }
  return out;
}

export class LoadBalancers {
  private readonly networks = new Map<string, NetworkLb>();
  private readonly idle = new Set<() => void>();
  /** While held, changes are recorded and applied at release (restart: until desired state is back). */
  private held = false;

  constructor(
    private readonly plane: LbPlane,
    private readonly vip: VipBackend,
    private readonly log: LogFn,
    /** Called after each apply with the network's routing-mesh ports (the host rules follow them). */
    private readonly onApplied: (networkId: string, services: readonly LbService[]) => void = () => undefined,
  ) {}

  get kind(): VipBackend['kind'] {
    return this.vip.kind;
  }

  private network(id: string, subnet = ''): NetworkLb {
    let n = this.networks.get(id);
    if (!n) {
      n = { id, subnet, source: undefined, backends: new Map(), byService: new Map(), services: new Map(), stale: new Set(), changed: undefined, netnsPath: undefined, dirty: false, running: undefined, lastError: undefined, applied: { services: 0, backends: 0 } };
      this.networks.set(id, n);
    }
    if (subnet) n.subnet = subnet;
    return n;
  }

  /** This node's LB address on the network (undefined: the node has none, nothing balances). */
  setSource(networkId: string, subnet: string, source: string | undefined): void {
    const n = this.network(networkId, subnet);
    if (n.source === source) return;
    n.source = source;
    n.changed = undefined;
    this.schedule(n);
  }

  hasSource(networkId: string): boolean {
    return this.networks.get(networkId)?.source !== undefined;
  }

  setBackend(networkId: string, key: string, entry: LbBackendEntry): void {
    const n = this.network(networkId);
    const old = n.backends.get(key);
    if (old && JSON.stringify(old) === JSON.stringify(entry)) return;
    if (old) this.forget(n, key, old);
    n.backends.set(key, entry);
    let keys = n.byService.get(entry.serviceId);
    if (!keys) n.byService.set(entry.serviceId, (keys = new Set()));
    keys.add(key);
    this.touch(n, entry.serviceId);
    this.schedule(n);
  }

  removeBackend(networkId: string, key: string): void {
    const n = this.networks.get(networkId);
    const old = n?.backends.get(key);
    if (!n || !old) return;
    n.backends.delete(key);
    this.forget(n, key, old);
    this.schedule(n);
  }

  private forget(n: NetworkLb, key: string, old: LbBackendEntry): void {
    const keys = n.byService.get(old.serviceId);
    keys?.delete(key);
    if (keys?.size === 0) n.byService.delete(old.serviceId);
    this.touch(n, old.serviceId);
  }

  private touch(n: NetworkLb, serviceId: string): void {
    n.changed?.add(serviceId);
    // Rebuilt at the next apply.
    n.services.delete(serviceId);
    n.stale.add(serviceId);
  }

  /** Sets an existing backend's weight (draining); no-op for an unknown key. */
  setWeight(networkId: string, key: string, weight: number): void {
    const e = this.networks.get(networkId)?.backends.get(key);
    if (e && e.weight !== weight) this.setBackend(networkId, key, { ...e, weight });
  }

  /** Applies every network again (reconcile: puts back what drifted). */
  resync(): Promise<void> {
    for (const n of this.networks.values()) this.schedule(n);
    return this.settled();
  }

  /** Resolves when no apply is pending or running. */
  settled(): Promise<void> {
    if (this.held || [...this.networks.values()].every((n) => !n.dirty && !n.running)) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  /**
   * Holds every apply until release(). After a restart the kernel still balances as the last
   * process left it; applying before the resumed tasks are attached again would drop their
   * backends (and refuse connections) for a moment.
   */
  hold(): void {
    this.held = true;
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    for (const n of this.networks.values()) if (n.dirty) this.schedule(n);
  }

  private schedule(n: NetworkLb): void {
    n.dirty = true;
    if (n.running || this.held) return;
    n.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.run(n));
  }

  private async run(n: NetworkLb): Promise<void> {
    try {
      while (n.dirty) {
        n.dirty = false;
        const t0 = performance.now();
        try {
          await this.applyNetwork(n);
          n.lastError = undefined;
          vipSyncEvents.publish({ network: n.id, backend: this.vip.kind, ms: performance.now() - t0, ok: true });
        } catch (err) {
          vipSyncEvents.publish({ network: n.id, backend: this.vip.kind, ms: performance.now() - t0, ok: false });
          n.changed = undefined;
          n.lastError = (err as Error).message;
          this.log('warn', 'load balancer not applied', { network: n.id, err: n.lastError });
        }
      }
    } finally {
      n.running = undefined;
      if (!n.source && n.backends.size === 0 && !n.netnsPath) this.networks.delete(n.id);
      if ([...this.networks.values()].every((x) => !x.dirty && !x.running)) {
        for (const wake of this.idle) wake();
        this.idle.clear();
      }
    }
  }

  /** The network's services, rebuilding only those whose backends changed. */
  private servicesOf(n: NetworkLb): LbService[] {
    for (const id of n.stale) {
      const spec = lbServices([...(n.byService.get(id) ?? [])].map((k) => n.backends.get(k)!))[0];
      if (spec) n.services.set(id, spec);
      else n.services.delete(id);
    }
    n.stale.clear();
    return [...n.services.values()];
  }

  private async applyNetwork(n: NetworkLb): Promise<void> {
    const changed = n.changed;
    // From here on, new touches are for the next apply.
    n.changed = new Set();
    const services = n.source ? this.servicesOf(n) : [];
    if (!n.source || services.length === 0) {
      if (n.netnsPath) {
        await this.vip.remove(n.netnsPath);
        n.netnsPath = undefined;
      }
      n.changed = undefined;
      if (n.source) await this.plane.setLoadBalancer(n.id, { sourceAddress: n.source, vips: [] });
      else await this.plane.setLoadBalancer(n.id, undefined).catch(() => undefined);
      n.applied = { services: 0, backends: 0 };
      this.onApplied(n.id, []);
      return;
    }
    const vips = services.flatMap((s) => (s.vip ? [s.vip] : []));
    const netnsPath = await this.plane.setLoadBalancer(n.id, { sourceAddress: n.source, vips });
    // `changed` lets the backend touch only those services (undefined: it diffs everything).
    await this.vip.apply({ netnsPath, sourceAddress: n.source, subnet: n.subnet, services, ...(changed && n.netnsPath === netnsPath ? { changed } : {}) });
    n.netnsPath = netnsPath;
    n.applied = { services: services.length, backends: services.reduce((a, x) => a + x.backends.length, 0) };
    this.onApplied(n.id, services);
  }

  /** Each network's services as last built (VIP, ports, backends with weights); a read only. */
  services(): Array<{ id: string; source: string | undefined; services: LbService[]; error?: string }> {
    return [...this.networks.values()].map((n) => ({ id: n.id, source: n.source, services: [...n.services.values()], ...(n.lastError ? { error: n.lastError } : {}) }));
  }

  /** What each network's load balancer has in the kernel now (as last applied); a read only. */
  status(): LoadBalancersStatus {
    return {
      networks: [...this.networks.values()].map((n) => ({ id: n.id, source: n.source, ...n.applied, ...(n.lastError ? { error: n.lastError } : {}) })),
    };
  }
}
