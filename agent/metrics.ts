// agentd's Prometheus metrics (prom-client). Pull-based: at each scrape the collectors read the
// same status functions agentctl reads (the agent's status, netd's status and gossip stats, the
// DNS counters), once per scrape, so no hot path carries a counter for the metrics' sake. The
// few figures no status holds come as events (agent/events.ts, netd/events.ts, dns/events.ts)
// into histograms: heartbeat round trips, assignment-to-running latency, VIP sync durations,
// forwarded DNS query latency. Every name starts with berth_; the process metrics are
// prom-client's defaults under the same prefix.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentStatus } from './agent.js';
import { heartbeatEvents, taskRunningEvents } from './events.js';
import { TaskState } from './proto/enums.js';
import { BERTH_VERSION } from './version.js';
import { vipSyncEvents, type GossipStats, type NetworkStatus } from '../netd/index.js';
import { dnsForwardEvents } from '../dns/index.js';

export const METRICS_PREFIX = 'berth_';

/** What a scrape reads: the functions behind agentctl's /status, /networks and /gossip. */
export interface MetricsSources {
  agent(): AgentStatus;
  /** undefined while the data plane is off, opening or failed. */
  networking(): NetworkStatus | undefined;
  /** undefined until the gossip runs. */
  gossip(): GossipStats | undefined;
}

interface Snapshot {
  agent: AgentStatus;
  networking: NetworkStatus | undefined;
  gossip: GossipStats | undefined;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

const SESSION_STATES = ['joining', 'retrying', 'connected', 'degraded'] as const;
const DATA_PLANE_STATES = ['opening', 'on', 'off', 'failed'] as const;
const TASK_STATES = Object.keys(TaskState).map((s) => s.toLowerCase());
const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'] as const;

/** Seconds. A heartbeat crosses the network once each way; the manager answers at once. */
const HEARTBEAT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Seconds. An image already present starts in about a second; a pull takes minutes. */
const TASK_START_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600];
/** Seconds. One atomic nft batch or a few IPVS netlink calls per network. */
const VIP_SYNC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Seconds. The forwarder gives up after its attempts (2 s each by default). */
const DNS_FORWARD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** How often the event loop's delay is sampled (berth_nodejs_eventloop_lag_*). prom-client's
 *  10 ms default is a timer waking agentd 100 times a second, about 0.4 % of a core on its own
 *  at idle (half of an idle agentd's CPU); a stall still shows, sampled 10 times a second. */
const EVENT_LOOP_SAMPLE_MS = 100;

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

export class AgentMetrics {
  readonly registry = new Registry();
  private snapshot: Snapshot | undefined;
  private rendering: Promise<unknown> = Promise.resolve();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.gauge('build_info', 'berth version of this agentd (always 1).', ['version'], (emit) => emit({ version: BERTH_VERSION }, 1));
    this.defineSession();
    this.defineTasks();
    this.defineStateDir();
    this.defineDns();
    this.defineReconcile();
    this.defineGossip();
    this.defineVip();
  }

  /** The Prometheus text exposition of every metric, read from one snapshot of the sources. */
  async render(): Promise<RenderedMetrics> {
    // One scrape at a time: each reads its own snapshot.
    const run = this.rendering.then(async () => {
      this.snapshot = undefined;
      try {
        return await this.registry.metrics();
      } finally {
        this.snapshot = undefined;
      }
    });
    this.rendering = run.catch(() => undefined);
    return { contentType: this.registry.contentType, body: await run };
  }

  /** Stops listening to events (the registry keeps what it has). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private get snap(): Snapshot {
    this.snapshot ??= { agent: this.sources.agent(), networking: this.sources.networking(), gossip: this.sources.gossip() };
    return this.snapshot;
  }

  private defineSession(): void {
    this.gauge('session_state', 'Where agentd stands with its managers: 1 for the current state (joining, retrying, connected, degraded), 0 for the others.', ['state'], (emit) => {
      const now = this.snap.agent.state.state;
      for (const s of SESSION_STATES) emit({ state: s }, s === now ? 1 : 0);
    });
    this.gauge('session_degraded_reasons', 'Reasons the node is degraded now (agentctl status lists them); 0 unless degraded.', [], (emit) => emit({}, this.snap.agent.state.degraded.length));
    this.counter('session_reconnects_total', 'Sessions established with a manager after the first one since agentd started (each follows a failed session, a certificate renewal or a resync).', [], (emit) =>
      emit({}, Math.max(0, this.snap.agent.sessions.opened - 1)),
    );
    this.counter('session_failures_total', 'Session rounds that failed to open or ended (a new one follows with backoff).', [], (emit) => emit({}, this.snap.agent.sessions.failed));
    this.gauge('session_heartbeat_period_seconds', 'Heartbeat period the manager asked for (0 before the first session).', [], (emit) => emit({}, this.snap.agent.timings.heartbeatPeriodMs / 1000));
    const rtt = this.histogram('session_heartbeat_rtt_seconds', 'Round trip of each heartbeat the manager answered.', HEARTBEAT_BUCKETS);
    this.unsubscribe.push(heartbeatEvents.subscribe((e) => rtt.observe(e.rttMs / 1000)));
    this.gauge('data_plane', 'The data plane (overlays, embedded DNS, load balancers): 1 for the current state (opening, on, off, failed), 0 for the others.', ['state'], (emit) => {
      const now = this.snap.agent.dataPlane;
      for (const s of DATA_PLANE_STATES) emit({ state: s }, s === now ? 1 : 0);
    });
  }

  private defineTasks(): void {
    this.gauge('tasks', 'Tasks this node holds, by their current state (as agentctl tasks shows them).', ['state'], (emit) => {
      const counts = new Map<string, number>(TASK_STATES.map((s) => [s, 0]));
      for (const t of this.snap.agent.tasks) {
        const s = t.state.toLowerCase();
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      for (const [state, n] of counts) emit({ state }, n);
    });
    const latency = this.histogram(
      'task_assignment_to_running_seconds',
      'From a task assignment arriving at this agentd to the task RUNNING here (image, sandbox, networks, container start, health); tasks resumed after a restart are not counted.',
      TASK_START_BUCKETS,
    );
    this.unsubscribe.push(taskRunningEvents.subscribe((e) => latency.observe(e.ms / 1000)));
  }

  private defineStateDir(): void {
    this.gauge('state_dir_degraded', '1 while writes to the state dir fail (full or failing disk): they wait in memory and are retried; 0 when it is writable.', [], (emit) =>
      emit({}, this.snap.agent.stateDir.state === 'degraded' ? 1 : 0),
    );
    this.gauge('state_dir_pending_writes', 'State dir writes waiting for the disk.', [], (emit) => emit({}, this.snap.agent.stateDir.pendingWrites));
    this.counter('state_dir_write_failures_total', 'State dir write attempts the disk refused, retries included.', [], (emit) => emit({}, this.snap.agent.stateDir.failedAttempts));
    this.counter('state_dir_degraded_periods_total', 'Times the state dir became unwritable.', [], (emit) => emit({}, this.snap.agent.stateDir.degradedPeriods));
  }

  private defineDns(): void {
    const dns = () => this.snap.networking?.dns;
    this.counter(
      'dns_queries_total',
      "Queries the embedded DNS handled, by how: answered from berth's names (local, NXDOMAIN/NODATA included), forwarded to the host's resolvers, refused as not a query (notimp) or an unknown EDNS version (badvers).",
      ['result'],
      (emit) => {
        const s = dns()?.server;
        if (!s) return;
        emit({ result: 'local' }, s.local);
        emit({ result: 'forwarded' }, s.forwarded);
        emit({ result: 'notimp' }, s.notimp);
        emit({ result: 'badvers' }, s.badvers);
      },
    );
    this.counter('dns_dropped_total', 'Datagrams the embedded DNS dropped unanswered, by why (malformed messages).', ['reason'], (emit) => {
      for (const [reason, n] of Object.entries(dns()?.server.malformed ?? {})) emit({ reason }, n);
    });
    this.single('counter', 'dns_forward_failures_total', "Forwarded queries answered SERVFAIL: no upstream answered in time, or the forwarder's queue was full.", () => dns()?.server.servfail);
    this.single('counter', 'dns_forward_timeouts_total', 'Attempts to an upstream resolver that timed out (a query may make several).', () => dns()?.forwarder.timeouts);
    this.counter(
      'dns_forward_overflows_total',
      "Forwarded queries refused (answered SERVFAIL) at the forwarder's caps: the node-wide queue full (scope node), or the asking sandbox's share in flight and its own queue full (scope sandbox).",
      ['scope'],
      (emit) => {
        const f = dns()?.forwarder;
        if (!f) return;
        emit({ scope: 'node' }, f.overflow);
        emit({ scope: 'sandbox' }, f.overShare);
      },
    );
    this.single('counter', 'dns_forward_wrong_source_total', 'Datagrams on an upstream socket dropped because they came from another address or port than the one asked (spoofing attempts, or a misrouted reply).', () => dns()?.forwarder.wrongSource);
    this.single('gauge', 'dns_tcp_connections', 'TCP connections to the embedded DNS open now (all sandboxes).', () => dns()?.listeners.tcpConnections);
    this.single('counter', 'dns_truncated_total', 'Forwarded answers too large for the client, sent truncated (TC) so it retries over TCP.', () => dns()?.server.truncated);
    this.single('gauge', 'dns_forward_in_flight', 'Queries at the upstream resolvers now.', () => dns()?.forwarder.inFlight);
    this.single('gauge', 'dns_forward_queued', 'Queries waiting for a forwarding slot now.', () => dns()?.forwarder.queued);
    this.single('gauge', 'dns_sandboxes', 'Task sandboxes the embedded DNS listens in.', () => dns()?.sandboxes);
    this.counter('dns_records_rejected_total', 'Name records refused (mostly from other nodes), by reason; each is refused alone.', ['reason'], (emit) => {
      for (const [reason, n] of Object.entries(dns()?.records.rejectedBy ?? {})) emit({ reason }, n);
    });
    const latency = this.histogram(
      'dns_forward_duration_seconds',
      "Forwarded queries, from the hand-off to the host's resolvers to the reply or the give-up (answered: false means SERVFAIL). Local answers are computed in the turn the query arrives; see berth_nodejs_eventloop_lag_seconds.",
      DNS_FORWARD_BUCKETS,
      ['answered'],
    );
    this.unsubscribe.push(dnsForwardEvents.subscribe((e) => latency.observe({ answered: String(e.answered) }, e.ms / 1000)));
  }

  private defineReconcile(): void {
    const rec = () => this.snap.networking?.reconcile;
    this.single('counter', 'reconcile_runs_total', 'Data plane reconcile runs (kernel state compared with desired state).', () => rec()?.runs);
    this.single('counter', 'reconcile_failures_total', 'Reconcile runs that could not fix everything (the log names what).', () => rec()?.totals.failed);
    this.counter('reconcile_repairs_total', 'Kernel objects reconcile put back or removed because they drifted from desired state, by kind.', ['kind'], (emit) => {
      for (const [kind, n] of Object.entries(rec()?.totals.repaired ?? {})) emit({ kind }, n);
    });
    this.gauge('reconcile_last_duration_seconds', 'How long the last reconcile run took.', [], (emit) => {
      const last = rec()?.last;
      if (last) emit({}, last.ms / 1000);
    });
  }

  private defineGossip(): void {
    const g = () => this.snap.gossip;
    this.gauge('gossip_running', '1 once the cluster gossip (memberlist + NetworkDB on 7946) runs: it starts with the keys from the manager.', [], (emit) => emit({}, g() ? 1 : 0));
    this.gauge('gossip_members', 'Other gossip members this node knows, by state (ourselves not counted).', ['state'], (emit) => {
      const m = g()?.memberlist.members;
      if (m) for (const s of MEMBER_STATES) emit({ state: s }, m[s]);
    });
    this.single('gauge', 'gossip_networks', 'Overlay networks this node is on in NetworkDB.', () => g()?.networkdb.networks);
    this.gauge('gossip_table_entries', 'NetworkDB entries held, by table, live or tombstone.', ['table', 'kind'], (emit) => {
      for (const [table, c] of Object.entries(g()?.networkdb.tables ?? {})) {
        emit({ table, kind: 'live' }, c.live);
        emit({ table, kind: 'tombstone' }, c.tombstones);
      }
    });
    // Convergence, as far as a node can see it: NetworkDB's gossip is best effort without
    // acknowledgements, so "spread" is "sent its full retransmit count"; a bulk sync every 30 s
    // bounds how long a lost event stays lost.
    this.single('gauge', 'gossip_events_queued', "Table and network events still being gossiped: each goes out to its retransmit limit (4 x ceil(log10(n+1)) times); 0 means every change this node knows has been sent its full count. Events are not acknowledged, so this is not proof of receipt; the periodic bulk sync (30 s) repairs what was lost.", () => g()?.networkdb.queued);
    this.single('gauge', 'gossip_changes_pending', "Entry changes held in the settle window (250 ms) before they reach this node's data plane and DNS.", () => g()?.networkdb.pendingChanges);
    this.counter('gossip_table_events_total', 'NetworkDB table events: received (in), sent for our own changes (out), re-sent for others (rebroadcast).', ['direction'], (emit) => {
      const d = g()?.networkdb;
      if (!d) return;
      emit({ direction: 'in' }, d.tableEventsIn);
      emit({ direction: 'out' }, d.tableEventsOut);
      emit({ direction: 'rebroadcast' }, d.tableEventsRebroadcast);
    });
    this.counter('gossip_bulk_syncs_total', 'NetworkDB bulk syncs answered (in) and started (out), the periodic ones included.', ['direction'], (emit) => {
      const d = g()?.networkdb;
      if (!d) return;
      emit({ direction: 'in' }, d.bulkSyncsIn);
      emit({ direction: 'out' }, d.bulkSyncsOut);
    });
    this.single('counter', 'gossip_bulk_syncs_unchanged_total', 'Bulk syncs received (of direction "in") whose payload this node had already applied, byte for byte, to state that has not changed since: not read again.', () => g()?.networkdb.bulkSyncsUnchanged);
    this.counter('gossip_probes_total', 'memberlist failure-detection probes sent, and the acks that answered them.', ['result'], (emit) => {
      const m = g()?.memberlist;
      if (!m) return;
      emit({ result: 'sent' }, m.probesSent);
      emit({ result: 'acked' }, m.acks);
    });
    this.single('counter', 'gossip_suspicions_total', 'Members that became suspect here.', () => g()?.memberlist.suspicions);
    this.single('gauge', 'gossip_health_score', "This node's own gossip health (Lifeguard awareness): 0 is healthy; each step lengthens its probes by one interval. Stays up while this node is starved or loses inbound UDP; a peer's death also raises it briefly when Docker nodes were the helpers (their nacks come late).", () => g()?.memberlist.healthScore);
    this.counter('gossip_dropped_total', 'Gossip messages thrown away, by layer and reason (a wrong key, malformed, oversize, an unknown network...).', ['layer', 'reason'], (emit) => {
      const s = g();
      if (!s) return;
      for (const [reason, n] of Object.entries(s.memberlist.drops)) emit({ layer: 'memberlist', reason }, n);
      for (const [reason, n] of Object.entries(s.networkdb.drops)) emit({ layer: 'networkdb', reason }, n);
    });
  }

  private defineVip(): void {
    const vip = () => this.snap.networking?.vip;
    this.gauge('vip_backend_info', 'The VIP load balancer in use (ipvs or nftables), always 1.', ['backend'], (emit) => {
      const v = vip();
      if (v) emit({ backend: v.backend }, 1);
    });
    this.gauge('vip_services', "Services this node's load balancer of each network balances (VIPs and routing-mesh ports), as last applied to the kernel.", ['network'], (emit) => {
      for (const n of vip()?.networks ?? []) emit({ network: n.id }, n.services);
    });
    this.gauge('vip_backends', "Backends (service x task address) in this node's load balancer of each network, as last applied to the kernel.", ['network'], (emit) => {
      for (const n of vip()?.networks ?? []) emit({ network: n.id }, n.backends);
    });
    this.gauge('vip_sync_failing', "1 while the last load-balancer apply of a network failed (agentctl networks shows the error).", ['network'], (emit) => {
      for (const n of vip()?.networks ?? []) emit({ network: n.id }, n.error ? 1 : 0);
    });
    const sync = this.histogram('vip_sync_duration_seconds', "One network's load balancer applied to the kernel (the whole spec, or the services that changed), by backend and result.", VIP_SYNC_BUCKETS, ['backend', 'result']);
    this.unsubscribe.push(vipSyncEvents.subscribe((e) => sync.observe({ backend: e.backend, result: e.ok ? 'ok' : 'error' }, e.ms / 1000)));
  }

  private gauge(name: string, help: string, labelNames: string[], read: (emit: Emit) => void): void {
    new Gauge({
      name: METRICS_PREFIX + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        read((labels, value) => this.set(labels, value));
      },
    });
  }

  /** A counter whose value is read from a source's running total at each scrape. */
  private counter(name: string, help: string, labelNames: string[], read: (emit: Emit) => void): void {
    new Counter({
      name: METRICS_PREFIX + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        read((labels, value) => this.inc(labels, value));
      },
    });
  }

  /** A metric without labels, present only while its source is (the DNS, the gossip). */
  private single(kind: 'gauge' | 'counter', name: string, help: string, read: () => number | undefined): void {
    const emitIfPresent = (emit: Emit) => {
      const v = read();
      if (v !== undefined) emit({}, v);
    };
    if (kind === 'gauge') this.gauge(name, help, [], emitIfPresent);
    else this.counter(name, help, [], emitIfPresent);
  }

  private histogram(name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram {
    return new Histogram({ name: METRICS_PREFIX + name, help, buckets, labelNames, registers: [this.registry] });
  }
}
