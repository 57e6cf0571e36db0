// agentctl's human output: aligned tables and key/value blocks from what the control socket
// answers. Pure (the clock passed in), so unit tests check the text for content.
import type { AgentStatus } from '../agent.js';
import type { TaskTimings, TaskView } from '../worker/worker.js';
import type { TaskAnswer } from '../control-endpoints.js';
import type { CheckResult } from '../doctor/index.js';
import type { NetworkPeers, NetworkStatus, VipView } from '../../netd/index.js';
import type { ProbeAnswer } from '../../dns/index.js';

/** agentctl's exit statuses (agentctl --help and the README list them). */
export const EXIT = {
  OK: 0,
  /** Anything unexpected (a bug, an I/O error): the message says what. */
  ERROR: 1,
  USAGE: 2,
  AGENTD_NOT_RUNNING: 3,
  /** What was asked for is not good: a doctor check failed, a name did not resolve, no such task. */
  FAILED: 4,
} as const;

const SHORT_ID = 12;

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function shortId(id: string): string {
  return id.slice(0, SHORT_ID);
}

function formatStateDir(h: AgentStatus['stateDir']): string {
  if (h.state === 'ok') return 'ok';
  return `degraded since ${h.since ?? '?'}: ${h.pendingWrites} write(s) waiting, nothing unstored is reported (last error: ${h.lastError ?? '-'})`;
}

function formatState(st: AgentStatus['state'], nowMs: number): string {
  const parts = [`${st.state} since ${st.since}`];
  if (st.attempt && st.state !== 'connected' && st.state !== 'degraded') parts.push(`${st.attempt === 'join' ? 'joining through' : 'manager'} ${st.manager ?? '-'}`);
  if (st.failures > 0) parts.push(`${st.failures} failed attempt${st.failures === 1 ? '' : 's'}`);
  if (st.nextAttemptAt) parts.push(`next attempt ${st.nextAttemptAt} (in ${Math.max(0, Math.ceil((Date.parse(st.nextAttemptAt) - nowMs) / 1000))} s)`);
  const lines = [`state:        ${parts.join(', ')}`];
  if (st.lastError) lines.push(`last error:   ${st.lastError}`);
  for (const why of st.degraded) lines.push(`degraded:     ${why}`);
  return lines.join('\n');
}

function formatDnsStats(d: NonNullable<AgentStatus['dns']>): string {
  const f = d.forwarder;
  const malformed = Object.values(d.server.malformed).reduce((a, b) => a + b, 0);
  return [
    `dns:          ${d.server.queries} queries (${d.server.local} local, ${d.server.forwarded} forwarded, ${d.server.servfail} servfail), ${d.sandboxes} sandboxes`,
    `  dropped:    ${f.wrongSource} answers from a wrong source, ${f.unmatched} unmatched answers, ${malformed} malformed queries`,
    `  refused:    ${f.overShare} over a sandbox's share, ${f.overflow} over the node's queue; TCP reads paused ${d.listeners.tcpReadsPaused} times`,
  ].join('\n');
}

export function formatStatus(s: AgentStatus, nowMs: number): string {
  if (!s.nodeId) {
    // Not joined yet (or the identity is still loading): what agentd is doing is all there is.
    return [formatState(s.state, nowMs), `node:         not joined yet (${s.hostname})`, `managers:     ${s.managers.join(', ') || '-'}`, `data plane:   ${s.dataPlane}`].join('\n');
  }
  const lines = [
    formatState(s.state, nowMs),
    `node:         ${s.nodeId} (${s.hostname})`,
    `cluster:      ${s.clusterId}  role: ${s.role}`,
    `manager:      ${s.connected ? `connected to ${s.manager}` : 'disconnected'}${s.sessions.lastError ? `  (last error: ${s.sessions.lastError})` : ''}`,
    `availability: ${s.availability}  state: ${s.nodeState}`,
    `managers:     ${s.managers.join(', ') || '-'}`,
    `heartbeat:    every ${s.timings.heartbeatPeriodMs} ms, rtt ${s.timings.heartbeatRttMs.toFixed(1)} ms`,
    `certificate:  expires ${s.certificate.notAfter}, renews ${s.certificate.renewAt ?? '-'}`,
    `state dir:    ${formatStateDir(s.stateDir)}`,
    `data plane:   ${s.dataPlane}${s.vipBackend ? `  (vip backend: ${s.vipBackend})` : ''}`,
    ...(s.dns ? [formatDnsStats(s.dns)] : []),
    `tasks:        ${s.tasks.length}`,
  ];
  for (const t of s.tasks) lines.push(`  ${t.service}.${t.slot} ${t.id}  ${t.state} (desired ${t.desired})${t.err ? `  ${t.err}` : ''}`);
  return lines.join('\n');
}

export function formatTasks(tasks: readonly TaskView[]): string {
  if (tasks.length === 0) return 'no tasks on this node';
  return table(
    ['ID', 'TASK', 'STATE', 'DESIRED', 'IMAGE', 'MESSAGE'],
    tasks.map((t) => [shortId(t.id), `${t.service}.${t.slot}`, t.state, t.desired, t.image ?? '-', t.err ? `error: ${t.err}` : t.message]),
  );
}

export function formatTask(t: TaskAnswer): string {
  const lines = [
    `id:       ${t.id}`,
    `task:     ${t.service}.${t.slot}  (service ${t.serviceId})`,
    `node:     ${t.nodeId}`,
    `state:    ${t.state} since ${t.since} (desired ${t.desired})`,
    `message:  ${t.message}`,
    ...(t.err ? [`error:    ${t.err}`] : []),
    `image:    ${t.image ?? '-'}`,
    `sandbox:  ${t.sandbox ?? '- (no overlay network attached here)'}`,
  ];
  if (t.timings) lines.push(`timings:  ${formatTimings(t.timings)}`);
  if (t.networks.length > 0) {
    lines.push('networks:');
    lines.push(
      table(
        ['  NETWORK', 'ID', 'ADDRESSES'],
        t.networks.map((n) => [`  ${n.name || '-'}`, shortId(n.id), n.addresses.join(', ') || '-']),
      ),
    );
  }
  return lines.join('\n');
}

/** "assigned, +3 ms ACCEPTED, …, +212 ms RUNNING reported": milliseconds since the assignment arrived. */
export function formatTimings(t: TaskTimings): string {
  const after = (at: number) => `+${Math.round(at - t.assigned)} ms`;
  const steps = Object.entries(t.stored)
    .sort((a, b) => a[1] - b[1])
    .map(([state, at]) => `${after(at)} ${state}`);
  if (t.runningReported !== undefined) steps.push(`${after(t.runningReported)} RUNNING reported`);
  return ['assigned', ...steps].join(', ');
}

export function formatNetworks(n: NetworkStatus | null): string {
  if (!n) return 'data plane off: no overlay networks are programmed here';
  const lines = [
    n.overlay.networks.length === 0
      ? 'no overlay networks programmed here'
      : table(
          ['NETWORK', 'VNI', 'SANDBOXES', 'REMOTE ENDPOINTS', 'NAMESPACE'],
          n.overlay.networks.map((x) => [shortId(x.id), String(x.vni), String(x.sandboxes), String(x.remoteEndpoints), x.netnsPath]),
        ),
    '',
    `dns:        ${n.dns.records.networks} networks, ${n.dns.records.services} services, ${n.dns.records.tasks} tasks; ${n.dns.sandboxes} sandboxes listening; ${n.dns.records.rejected} records refused`,
    `reconcile:  ${n.reconcile.runs} runs${n.reconcile.last ? `; last ${n.reconcile.last.at} (${n.reconcile.last.trigger}, ${n.reconcile.last.ms} ms)${n.reconcile.last.error ? ` failed: ${n.reconcile.last.error}` : ''}` : ''}`,
    `vip:        ${n.vip ? `${n.vip.backend}, ${n.vip.networks.length} load balancer(s)` : 'off'}`,
  ];
  return lines.join('\n');
}

export function formatVips(v: VipView | null): string {
  if (!v) return 'data plane off: no load balancers here';
  const rows: string[][] = [];
  for (const n of v.networks) {
    for (const s of n.services) {
      const backends = s.backends.map((b) => (b.weight === 1 ? b.ip : `${b.ip} (weight ${b.weight})`)).join(', ');
      rows.push([n.name ?? shortId(n.id), s.name ?? shortId(s.id), s.vip ?? '-', s.ports.join(',') || '-', backends || '-']);
    }
  }
  const lines = [`backend: ${v.backend ?? '-'}`];
  lines.push(rows.length === 0 ? 'no services balanced here' : table(['NETWORK', 'SERVICE', 'VIP', 'PORTS', 'BACKENDS'], rows));
  for (const n of v.networks) {
    lines.push(`${n.name ?? shortId(n.id)}: load balancer source ${n.source ?? '- (no LB address from the manager yet)'}${n.error ? `; last error: ${n.error}` : ''}`);
  }
  return lines.join('\n');
}

export function formatPeers(p: NetworkPeers | null): string {
  if (!p) return 'data plane off: no gossip here';
  const lines = [`gossip node: ${p.node ?? '- (not started: the manager has not sent the network keys yet)'}`];
  lines.push(p.members.length === 0 ? 'no gossip members' : table(['MEMBER', 'ADDRESS', 'STATE', 'INCARNATION'], p.members.map((m) => [m.name, `${m.address}:${m.port}`, m.state, String(m.incarnation)])));
  if (p.networks.length > 0) {
    lines.push('');
    lines.push(table(['NETWORK', 'ID', 'REMOTE ENDPOINTS'], p.networks.map((n) => [n.name ?? '-', shortId(n.id), String(n.remoteEndpoints)])));
  }
  if (p.endpoints) {
    lines.push('');
    lines.push(p.endpoints.length === 0 ? 'no endpoint_table entries' : table(['NETWORK', 'NAME', 'SERVICE', 'IP', 'OWNER', 'DISABLED'], p.endpoints.map((e) => [e.networkName ?? shortId(e.network), e.name, e.service, e.ip, e.owner, e.disabled ? 'yes' : ''])));
  }
  return lines.join('\n');
}

export function dnsAnswered(a: ProbeAnswer): boolean {
  return a.rcode === 'NOERROR' && a.answers.length > 0;
}

export function formatDns(a: ProbeAnswer & { name: string; type: string; task: string }): string {
  const head = `${a.name} ${a.type} from task ${shortId(a.task)}: ${a.rcode}${a.rcode === 'NOERROR' && a.answers.length === 0 ? ' (no records of this type: NODATA)' : ''}${a.authoritative ? ', answered by berth' : ', from the host\'s resolvers'}${a.truncated ? ', truncated' : ''}`;
  if (a.answers.length === 0) return head;
  return [head, table(['NAME', 'TYPE', 'TTL', 'DATA'], a.answers.map((r) => [r.name, r.type, String(r.ttl), r.data]))].join('\n');
}

const MARK: Record<CheckResult['status'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

export function formatDoctor(results: readonly CheckResult[]): string {
  const rows = results.map((r) => [MARK[r.status], r.title, r.detail]);
  const lines = [table(['', 'CHECK', 'FOUND'], rows)];
  const fixes = results.filter((r) => r.fix);
  if (fixes.length > 0) {
    lines.push('', 'to fix:');
    for (const r of fixes) lines.push(`  ${r.title}: ${r.fix}`);
  }
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  lines.push('', `${count('pass')} passed, ${count('warn')} warnings, ${count('fail')} failed, ${count('skip')} not checked`);
  return lines.join('\n');
}
