#!/usr/bin/env node
// agentctl: local diagnostics over agentd's control socket.
import { Command } from 'commander';
import { BERTH_VERSION } from '../version.js';
import { DEFAULT_CONTROL_SOCKET } from '../config.js';
import { controlRequest } from '../control.js';
import type { AgentStatus } from '../agent.js';

const program = new Command('agentctl')
  .description('berth local diagnostics')
  .version(BERTH_VERSION)
  .option('--socket <path>', 'agentd control socket', process.env.BERTH_CONTROL_SOCKET ?? DEFAULT_CONTROL_SOCKET);

function socket(): string {
  return program.opts<{ socket: string }>().socket;
}

function formatStateDir(h: AgentStatus['stateDir']): string {
  if (h.state === 'ok') return 'ok';
  return `degraded since ${h.since ?? '?'}: ${h.pendingWrites} write(s) waiting, nothing unstored is reported (last error: ${h.lastError ?? '-'})`;
}

function formatState(st: AgentStatus['state']): string {
  const parts = [`${st.state} since ${st.since}`];
  if (st.attempt && st.state !== 'connected' && st.state !== 'degraded') parts.push(`${st.attempt === 'join' ? 'joining through' : 'manager'} ${st.manager ?? '-'}`);
  if (st.failures > 0) parts.push(`${st.failures} failed attempt${st.failures === 1 ? '' : 's'}`);
  if (st.nextAttemptAt) parts.push(`next attempt ${st.nextAttemptAt} (in ${Math.max(0, Math.ceil((Date.parse(st.nextAttemptAt) - Date.now()) / 1000))} s)`);
  const lines = [`state:        ${parts.join(', ')}`];
  if (st.lastError) lines.push(`last error:   ${st.lastError}`);
  for (const why of st.degraded) lines.push(`degraded:     ${why}`);
  return lines.join('\n');
}

function formatDns(d: NonNullable<AgentStatus['dns']>): string {
  const f = d.forwarder;
  const malformed = Object.values(d.server.malformed).reduce((a, b) => a + b, 0);
  return [
    `dns:          ${d.server.queries} queries (${d.server.local} local, ${d.server.forwarded} forwarded, ${d.server.servfail} servfail), ${d.sandboxes} sandboxes`,
    `  dropped:    ${f.wrongSource} answers from a wrong source, ${f.unmatched} unmatched answers, ${malformed} malformed queries`,
    `  refused:    ${f.overShare} over a sandbox's share, ${f.overflow} over the node's queue; TCP reads paused ${d.listeners.tcpReadsPaused} times`,
  ].join('\n');
}

function formatStatus(s: AgentStatus): string {
  if (!s.nodeId) {
    // Not joined yet (or the identity is still loading): what agentd is doing is all there is.
    return [formatState(s.state), `node:         not joined yet (${s.hostname})`, `managers:     ${s.managers.join(', ') || '-'}`, `data plane:   ${s.dataPlane}`].join('\n');
  }
  const lines = [
    formatState(s.state),
    `node:         ${s.nodeId} (${s.hostname})`,
    `cluster:      ${s.clusterId}  role: ${s.role}`,
    `manager:      ${s.connected ? `connected to ${s.manager}` : 'disconnected'}${s.sessions.lastError ? `  (last error: ${s.sessions.lastError})` : ''}`,
    `availability: ${s.availability}  state: ${s.nodeState}`,
    `managers:     ${s.managers.join(', ') || '-'}`,
    `heartbeat:    every ${s.timings.heartbeatPeriodMs} ms, rtt ${s.timings.heartbeatRttMs.toFixed(1)} ms`,
    `certificate:  expires ${s.certificate.notAfter}, renews ${s.certificate.renewAt ?? '-'}`,
    `state dir:    ${formatStateDir(s.stateDir)}`,
    `data plane:   ${s.dataPlane}${s.vipBackend ? `  (vip backend: ${s.vipBackend})` : ''}`,
    ...(s.dns ? [formatDns(s.dns)] : []),
    `tasks:        ${s.tasks.length}`,
  ];
  for (const t of s.tasks) lines.push(`  ${t.service}.${t.slot} ${t.id}  ${t.state} (desired ${t.desired})${t.err ? `  ${t.err}` : ''}`);
  return lines.join('\n');
}

program
  .command('status')
  .description("show the agent's state (joining, retrying with the last error and the next attempt, connected, degraded), node, manager session, tasks")
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    const s = (await controlRequest(socket(), '/status')) as AgentStatus;
    process.stdout.write(`${opts.json ? JSON.stringify(s, null, 2) : formatStatus(s)}\n`);
  });

program
  .command('tasks')
  .description('list the tasks on this node')
  .action(async () => {
    process.stdout.write(`${JSON.stringify(await controlRequest(socket(), '/tasks'), null, 2)}\n`);
  });

program
  .command('gossip')
  .description("this node in the cluster's gossip: its name, members, counters (null until the manager sent the keys)")
  .action(async () => {
    process.stdout.write(`${JSON.stringify(await controlRequest(socket(), '/gossip'), null, 2)}\n`);
  });

program
  .command('networks')
  .description('the overlay networks programmed here (VNI, namespace, sandboxes, remote endpoints), DNS counters (records refused), the last reconcile (null when the data plane is off)')
  .action(async () => {
    process.stdout.write(`${JSON.stringify(await controlRequest(socket(), '/networks'), null, 2)}\n`);
  });

program
  .command('version')
  .description('the berth version and the Node runtime agentctl runs on (no agentd needed)')
  .option('--json', 'print JSON')
  .action((opts: { json?: boolean }) => {
    const v = { berth: BERTH_VERSION, node: process.versions.node };
    process.stdout.write(`${opts.json ? JSON.stringify(v) : `berth ${v.berth} (node ${v.node})`}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`agentctl: ${(err as Error).message}\n`);
  process.exit(1);
});
