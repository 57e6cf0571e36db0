// agentd's metrics registry rendered from FAKE status inputs (plain objects shaped as
// agent.status(), networking.status() and gossipStats() return them) and FAKE events published
// on the channels the session, worker, load balancers and DNS forwarder use: every family is
// there with HELP and TYPE, named berth_*, and its samples carry what the inputs say. The
// control socket serves the same text at GET /metrics with Prometheus' content type.
import test from 'ava';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentMetrics, type MetricsSources } from '../../agent/metrics.js';
import { startingStatus, type AgentStatus } from '../../agent/agent.js';
import { AgentPhase } from '../../agent/phase.js';
import { RawResponse, startControlServer } from '../../agent/control.js';
import { heartbeatEvents, taskRunningEvents } from '../../agent/events.js';
import { vipSyncEvents, type GossipStats, type NetworkStatus } from '../../netd/index.js';
import { dnsForwardEvents } from '../../dns/index.js';
import type { TaskView } from '../../agent/worker/worker.js';
import { parsePromText, sampleValue } from '../harness/prom-text.js';

const NET_A = 'n1a2b3c4d5e6f7g8h9i0j1k2l';

function fakeTask(id: string, state: string): TaskView {
  return { id, service: 'web', slot: id, desired: 'RUNNING', state, message: state.toLowerCase() };
}

/** A FAKE agent status: connected, 3 running tasks, 1 preparing, 1 failed, the state dir degraded. */
function fakeAgentStatus(): AgentStatus {
  const phase = new AgentPhase();
  phase.sessionUp('10.0.0.1:2377');
  const base = startingStatus({ hostname: 'h', managers: ['10.0.0.1:2377'] }, phase, 'on');
  return {
    ...base,
    connected: true,
    sessions: { opened: 4, failed: 3, lastError: 'x' },
    timings: { joinMs: 100, sessionOpenMs: 20, heartbeatRttMs: 2, heartbeatPeriodMs: 5_000, startup: {}, startupCpu: {} },
    stateDir: { state: 'degraded', since: new Date().toISOString(), lastError: 'ENOSPC', pendingWrites: 7, failedAttempts: 12, degradedPeriods: 2, lastDegradedMs: 900 },
    tasks: [fakeTask('t1', 'RUNNING'), fakeTask('t2', 'RUNNING'), fakeTask('t3', 'RUNNING'), fakeTask('t4', 'PREPARING'), fakeTask('t5', 'FAILED')],
  };
}

/** A FAKE networking status: one network's load balancer, DNS counters, two reconcile runs. */
function fakeNetworkStatus(): NetworkStatus {
  return {
    overlay: { networks: [], sandboxes: 4, rejectedEndpoints: 0 },
    dns: {
      server: { queries: 60, local: 40, forwarded: 18, servfail: 3, notimp: 1, badvers: 1, truncated: 2, malformed: { 'short-header': 5, response: 1 } as NetworkStatus['dns']['server']['malformed'] },
      forwarder: { forwarded: 18, answered: 15, failed: 3, overflow: 1, overShare: 2, queued: 2, inFlight: 4, tcpFallbacks: 0, timeouts: 6, unmatched: 0, wrongSource: 5, udpSockets: 2 },
      sandboxes: 4,
      listeners: { tcpConnections: 3, tcpReadsPaused: 0, tcpPipelinePeak: 1 },
      records: { networks: 1, services: 2, tasks: 5, rejected: 2, rejectedBy: { name: 0, address: 2, port: 0, shape: 0 } },
    },
    reconcile: {
      runs: 2,
      last: { trigger: 'periodic', at: new Date().toISOString(), ms: 35, fixed: { fdbAdded: 2 } },
      totals: { repaired: { fdbAdded: 3, linksRepaired: 1 }, failed: 1 },
    },
    vip: { backend: 'nftables', networks: [{ id: NET_A, source: '10.0.1.2', services: 2, backends: 6 }] },
  };
}

/** FAKE gossip stats: 2 alive members, one suspect; two tables. */
function fakeGossipStats(): GossipStats {
  return {
    node: 'abcdef012345',
    members: 2,
    memberlist: {
      packetsIn: 10,
      packetsOut: 11,
      dropped: 1,
      streamsIn: 2,
      pushPulls: 3,
      pingsAnswered: 4,
      refutations: 0,
      corrections: 0,
      healthScore: 0,
      members: { alive: 2, suspect: 1, dead: 0, left: 0 },
      probesSent: 20,
      acks: 19,
      indirectProbes: 1,
      suspicions: 1,
      deadDeclared: 0,
      drops: { decrypt: 1 } as GossipStats['memberlist']['drops'],
    },
    networkdb: {
      networks: 1,
      entries: 5,
      tables: { overlay_peer_table: { live: 3, tombstones: 1 }, endpoint_table: { live: 2, tombstones: 0 } },
      nodes: { alive: 2, suspect: 1, dead: 0, left: 0 },
      queued: 4,
      pendingChanges: 1,
      tableEventsIn: 8,
      tableEventsOut: 5,
      tableEventsRebroadcast: 2,
      networkEventsIn: 1,
      networkEventsOut: 1,
      bulkSyncsIn: 2,
      bulkSyncsUnchanged: 1,
      bulkSyncsOut: 3,
      periodicBulkSyncs: 1,
      reaped: 0,
      dropped: 0,
      drops: {} as GossipStats['networkdb']['drops'],
    },
  };
}

const fakeSources: MetricsSources = { agent: fakeAgentStatus, networking: fakeNetworkStatus, gossip: fakeGossipStats };

const EXPECTED_FAMILIES = [
  'berth_build_info',
  'berth_session_state',
  'berth_session_degraded_reasons',
  'berth_session_reconnects_total',
  'berth_session_failures_total',
  'berth_session_heartbeat_period_seconds',
  'berth_session_heartbeat_rtt_seconds',
  'berth_data_plane',
  'berth_tasks',
  'berth_task_assignment_to_running_seconds',
  'berth_state_dir_degraded',
  'berth_state_dir_pending_writes',
  'berth_state_dir_write_failures_total',
  'berth_state_dir_degraded_periods_total',
  'berth_dns_queries_total',
  'berth_dns_dropped_total',
  'berth_dns_forward_failures_total',
  'berth_dns_forward_timeouts_total',
  'berth_dns_forward_overflows_total',
  'berth_dns_forward_wrong_source_total',
  'berth_dns_tcp_connections',
  'berth_dns_truncated_total',
  'berth_dns_forward_in_flight',
  'berth_dns_forward_queued',
  'berth_dns_sandboxes',
  'berth_dns_records_rejected_total',
  'berth_dns_forward_duration_seconds',
  'berth_reconcile_runs_total',
  'berth_reconcile_failures_total',
  'berth_reconcile_repairs_total',
  'berth_reconcile_last_duration_seconds',
  'berth_gossip_running',
  'berth_gossip_members',
  'berth_gossip_networks',
  'berth_gossip_table_entries',
  'berth_gossip_events_queued',
  'berth_gossip_changes_pending',
  'berth_gossip_table_events_total',
  'berth_gossip_bulk_syncs_total',
  'berth_gossip_bulk_syncs_unchanged_total',
  'berth_gossip_probes_total',
  'berth_gossip_suspicions_total',
  'berth_gossip_health_score',
  'berth_gossip_dropped_total',
  'berth_vip_backend_info',
  'berth_vip_services',
  'berth_vip_backends',
  'berth_vip_sync_failing',
  'berth_vip_sync_duration_seconds',
  // prom-client's process metrics, under berth's prefix.
  'berth_process_cpu_seconds_total',
  'berth_process_resident_memory_bytes',
  'berth_nodejs_eventloop_lag_seconds',
];

test.serial('the registry renders every family, with HELP and TYPE, from the status inputs', async (t) => {
  const metrics = new AgentMetrics(fakeSources);
  t.teardown(() => metrics.close());
  const { contentType, body } = await metrics.render();
  t.is(contentType, 'text/plain; version=0.0.4; charset=utf-8');
  const families = parsePromText(body);
  for (const name of EXPECTED_FAMILIES) t.true(families.has(name), `family ${name} rendered`);
  for (const name of families.keys()) t.true(name.startsWith('berth_'), `${name} is prefixed berth_`);
  const v = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels);

  t.is(v('berth_tasks', { state: 'running' }), 3);
  t.is(v('berth_tasks', { state: 'preparing' }), 1);
  t.is(v('berth_tasks', { state: 'failed' }), 1);
  t.is(v('berth_tasks', { state: 'complete' }), 0, 'every state is present, zero included');
  t.is(v('berth_session_state', { state: 'connected' }), 1);
  for (const s of ['joining', 'retrying', 'degraded']) t.is(v('berth_session_state', { state: s }), 0);
  t.is(v('berth_session_reconnects_total'), 3);
  t.is(v('berth_session_failures_total'), 3);
  t.is(v('berth_session_heartbeat_period_seconds'), 5);
  t.is(v('berth_data_plane', { state: 'on' }), 1);
  t.is(v('berth_state_dir_degraded'), 1);
  t.is(v('berth_state_dir_pending_writes'), 7);
  t.is(v('berth_state_dir_write_failures_total'), 12);
  t.is(v('berth_dns_queries_total', { result: 'local' }), 40);
  t.is(v('berth_dns_queries_total', { result: 'forwarded' }), 18);
  t.is(v('berth_dns_dropped_total', { reason: 'short-header' }), 5);
  t.is(v('berth_dns_forward_failures_total'), 3);
  t.is(v('berth_dns_forward_timeouts_total'), 6);
  t.is(v('berth_dns_forward_overflows_total', { scope: 'node' }), 1);
  t.is(v('berth_dns_forward_overflows_total', { scope: 'sandbox' }), 2);
  t.is(v('berth_dns_forward_wrong_source_total'), 5);
  t.is(v('berth_dns_tcp_connections'), 3);
  t.is(v('berth_dns_records_rejected_total', { reason: 'address' }), 2);
  t.is(v('berth_reconcile_runs_total'), 2);
  t.is(v('berth_reconcile_failures_total'), 1);
  t.is(v('berth_reconcile_repairs_total', { kind: 'fdbAdded' }), 3);
  t.is(v('berth_reconcile_repairs_total', { kind: 'linksRepaired' }), 1);
  t.is(v('berth_reconcile_last_duration_seconds'), 0.035);
  t.is(v('berth_gossip_running'), 1);
  t.is(v('berth_gossip_members', { state: 'alive' }), 2);
  t.is(v('berth_gossip_members', { state: 'suspect' }), 1);
  t.is(v('berth_gossip_table_entries', { table: 'overlay_peer_table', kind: 'tombstone' }), 1);
  t.is(v('berth_gossip_events_queued'), 4);
  t.is(v('berth_gossip_dropped_total', { layer: 'memberlist', reason: 'decrypt' }), 1);
  t.is(v('berth_vip_backend_info', { backend: 'nftables' }), 1);
  t.is(v('berth_vip_services', { network: NET_A }), 2);
  t.is(v('berth_vip_backends', { network: NET_A }), 6);
  t.is(v('berth_vip_sync_failing', { network: NET_A }), 0);
});

test.serial('histograms fill from the events the session, worker, load balancers and forwarder publish', async (t) => {
  const metrics = new AgentMetrics(fakeSources);
  t.teardown(() => metrics.close());
  // FAKE events, as the real publishers send them.
  heartbeatEvents.publish({ manager: 'm:2377', rttMs: 3 });
  heartbeatEvents.publish({ manager: 'm:2377', rttMs: 40 });
  taskRunningEvents.publish({ taskId: 't1', ms: 1_500 });
  vipSyncEvents.publish({ network: NET_A, backend: 'nftables', ms: 4, ok: true });
  vipSyncEvents.publish({ network: NET_A, backend: 'nftables', ms: 9, ok: false });
  dnsForwardEvents.publish({ ms: 12, answered: true });
  const families = parsePromText((await metrics.render()).body);
  const v = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels);
  t.is(v('berth_session_heartbeat_rtt_seconds_count'), 2);
  t.is(v('berth_session_heartbeat_rtt_seconds_bucket', { le: '0.005' }), 1);
  t.true(Math.abs(v('berth_session_heartbeat_rtt_seconds_sum') - 0.043) < 1e-9);
  t.is(v('berth_task_assignment_to_running_seconds_count'), 1);
  t.is(v('berth_task_assignment_to_running_seconds_bucket', { le: '1' }), 0);
  t.is(v('berth_task_assignment_to_running_seconds_bucket', { le: '2' }), 1);
  t.is(v('berth_vip_sync_duration_seconds_count', { backend: 'nftables', result: 'ok' }), 1);
  t.is(v('berth_vip_sync_duration_seconds_count', { backend: 'nftables', result: 'error' }), 1);
  t.is(v('berth_dns_forward_duration_seconds_count', { answered: 'true' }), 1);

  // After close the registry hears nothing more.
  metrics.close();
  heartbeatEvents.publish({ manager: 'm:2377', rttMs: 3 });
  t.is(sampleValue(parsePromText((await metrics.render()).body), 'berth_session_heartbeat_rtt_seconds_count'), 2);
});

test.serial('before the data plane and the gossip exist, their families render with no samples; the sources are read once per scrape', async (t) => {
  const reads = { agent: 0, networking: 0, gossip: 0 };
  const phase = new AgentPhase();
  const metrics = new AgentMetrics({
    agent: () => (reads.agent++, startingStatus({ hostname: 'h', managers: [] }, phase, 'opening')),
    networking: () => (reads.networking++, undefined),
    gossip: () => (reads.gossip++, undefined),
  });
  t.teardown(() => metrics.close());
  const families = parsePromText((await metrics.render()).body);
  t.deepEqual(reads, { agent: 1, networking: 1, gossip: 1 });
  t.is(sampleValue(families, 'berth_session_state', { state: 'joining' }), 1);
  t.is(sampleValue(families, 'berth_data_plane', { state: 'opening' }), 1);
  t.is(sampleValue(families, 'berth_gossip_running'), 0);
  t.deepEqual(families.get('berth_dns_queries_total')?.samples, []);
  t.deepEqual(families.get('berth_vip_services')?.samples, []);
  t.is(sampleValue(families, 'berth_tasks', { state: 'running' }), 0);
});

function get(socketPath: string, path: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

test.serial('the control socket serves an async handler\'s RawResponse as it is, with its content type', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const metrics = new AgentMetrics(fakeSources);
  t.teardown(() => metrics.close());
  const path = join(dir, 'agentd.sock');
  const control = await startControlServer(path, {
    '/status': () => ({ ok: true }),
    '/metrics': async () => {
      const m = await metrics.render();
      return new RawResponse(m.contentType, m.body);
    },
    '/broken': async () => {
      await Promise.resolve();
      throw new Error('no status yet');
    },
  });
  t.teardown(() => control.close());
  const r = await get(path, '/metrics');
  t.is(r.status, 200);
  t.is(r.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  t.is(sampleValue(parsePromText(r.body), 'berth_tasks', { state: 'running' }), 3);
  const s = await get(path, '/status');
  t.is(s.contentType, 'application/json');
  t.deepEqual(JSON.parse(s.body), { ok: true });
  const b = await get(path, '/broken');
  t.is(b.status, 500);
  t.deepEqual(JSON.parse(b.body), { error: 'no status yet' });
});
