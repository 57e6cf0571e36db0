// agentd against a FakeManager that breaks the session in ways a real manager will not on
// demand: streams ended or aborted, heartbeats left unanswered, an out-of-order INCREMENTAL
// set, a server certificate from another CA, malformed tasks. agentd runs from source in the
// test's namespace against a private dockerd (no bridge), the fake on 127.0.0.1.
import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import type { AgentdProcess } from '../../scripts/lib/agentd.js';
import { sleep, waitFor } from '../../scripts/lib/exec.js';
import { startLocalAgentd, waitUp } from '../fixtures/local-agentd.js';
import { ACTION_UPDATE, ASSIGNMENTS_INCREMENTAL, FakeManager, containerTask, taskId, type StatusRecord } from '../fixtures/test-manager.js';
import { TestPki } from '../fixtures/test-pki.js';
import { SESSION_BACKOFF_INITIAL_MS, SESSION_BACKOFF_MAX_MS, type AgentStatus } from '../../agent/agent.js';
import { HEARTBEAT_TIMEOUT_MS } from '../../agent/session/session.js';
import { TaskState, stateName } from '../../agent/worker/task-state.js';

/** Short heartbeats keep the timeout test fast; the agent's own deadline is HEARTBEAT_TIMEOUT_MS. */
const HEARTBEAT_PERIOD_MS = 500;
/** SwarmKit's agent gives every dispatcher call, heartbeats included, 5 s (dispatcherRPCTimeout). */
const SWARMKIT_DISPATCHER_RPC_TIMEOUT_MS = 5_000;
const STATE_TIMEOUT_MS = 30_000;

let engine: PrivateDockerd;

test.before(async () => {
  engine = await startDockerd();
});

test.after.always(async () => {
  await engine?.stop();
});

interface Rig {
  fake: FakeManager;
  agent: AgentdProcess;
  nodeId: string;
}

async function rig(t: ExecutionContext, fakeOpts: { pki?: TestPki } = {}): Promise<Rig> {
  const fake = await FakeManager.start({ heartbeatPeriodMs: HEARTBEAT_PERIOD_MS, ...fakeOpts });
  t.teardown(() => fake.close());
  const agent = await startLocalAgentd({ manager: fake.address, dockerd: engine, joinToken: fake.workerToken });
  t.teardown(async () => {
    if (t.passed === false) t.log(`--- agentd log (tail) ---\n${agent.logs().split('\n').slice(-40).join('\n')}`);
    await agent.destroy();
  });
  const st = await waitUp(agent);
  t.is(st.sessions.opened, 1);
  return { fake, agent, nodeId: st.nodeId };
}

async function waitState(fake: FakeManager, id: string, state: number, timeoutMs = STATE_TIMEOUT_MS): Promise<StatusRecord> {
  return waitFor(
    `task ${id} reported ${stateName(state)}`,
    async () => {
      const last = fake.lastStatus(id);
      if (last && last.state > state) throw new Error(`task ${id} went past ${stateName(state)} to ${stateName(last.state)} (${last.err})`);
      return last?.state === state ? last : undefined;
    },
    timeoutMs,
  );
}

async function waitStatus(agent: AgentdProcess, what: string, pred: (s: AgentStatus) => boolean, timeoutMs = 20_000): Promise<AgentStatus> {
  return waitFor(
    what,
    async () => {
      const s = await agent.status();
      return pred(s) ? s : undefined;
    },
    timeoutMs,
  );
}

interface ContainerRow {
  id: string;
  taskId: string;
  state: string;
  startedAt: string;
}

/** The node's containers on the private engine, by task id. */
async function containers(nodeId: string): Promise<ContainerRow[]> {
  const out = (await engine.docker(['ps', '-a', '--no-trunc', '--filter', `label=com.docker.swarm.node.id=${nodeId}`, '--format', '{{.ID}}\t{{.Label "com.docker.swarm.task.id"}}'])).stdout.trim();
  if (out === '') return [];
  const rows: ContainerRow[] = [];
  for (const line of out.split('\n')) {
    const [id, task] = line.split('\t') as [string, string];
    const info = await engine.client.getContainer(id).inspect();
    rows.push({ id, taskId: task, state: info.State.Status, startedAt: info.State.StartedAt });
  }
  return rows;
}

/** Per task: states only rise, and no state is reported twice by one agent process. */
function assertReportsMonotonic(t: ExecutionContext, fake: FakeManager): void {
  const byTask = new Map<string, StatusRecord[]>();
  for (const r of fake.statuses) byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r]);
  for (const [id, recs] of byTask) {
    const states = recs.map((r) => stateName(r.state)).join(' → ');
    for (let i = 1; i < recs.length; i++) {
      t.true(recs[i]!.state > recs[i - 1]!.state, `task ${id}: reports must strictly rise within one agent process: ${states}`);
    }
  }
}

function alive(agent: AgentdProcess): Promise<boolean> {
  return Promise.race([agent.exited.then(() => false), sleep(50).then(() => true)]);
}

test.serial('a dropped Session stream and an aborted Assignments stream each lead to a new session; tasks and statuses survive', async (t) => {
  const { fake, agent, nodeId } = await rig(t);
  const keep = taskId();
  const brief = taskId();
  fake.assign([containerTask(keep, { service: 'keep' }), containerTask(brief, { service: 'brief', args: ['sleep', '2'] })]);
  await waitState(fake, keep, TaskState.RUNNING);
  await waitState(fake, brief, TaskState.RUNNING);
  const before = new Map((await containers(nodeId)).map((c) => [c.taskId, c]));
  t.is(before.size, 2);

  // 1. The manager ends the Session stream and then refuses sessions while `brief` exits:
  //    its COMPLETE status is persisted but cannot be reported yet.
  fake.refuseSessions = { code: grpc.status.UNAVAILABLE, details: 'fake manager: no leader elected' };
  // The session id stays valid: the stream's end is the only thing that tells agentd.
  t.is(fake.endSessions(undefined, { invalidate: false }), 1);
  await waitStatus(agent, 'agentd to notice the ended session', (s) => !s.connected && s.sessions.failed >= 1, 5_000);
  t.true(agent.logs().includes(`${fake.address} ended the Session stream`), 'agentd saw the stream end');
  await waitFor('brief to exit', async () => (await containers(nodeId)).find((c) => c.taskId === brief)?.state === 'exited', 10_000);
  await waitStatus(agent, 'agentd to hold COMPLETE for brief', (s) => s.tasks.find((x) => x.id === brief)?.state === 'COMPLETE');
  t.is(fake.lastStatus(brief)?.state, TaskState.RUNNING, 'nothing reported while no session');
  const refused = await agent.status();
  t.regex(refused.sessions.lastError ?? '', /UNAVAILABLE: fake manager: no leader elected/);
  fake.refuseSessions = undefined;
  const s2 = await waitStatus(agent, 'a second session', (s) => s.connected && s.sessions.opened === 2, SESSION_BACKOFF_MAX_MS + 10_000);
  const completed = await waitState(fake, brief, TaskState.COMPLETE);
  t.is(completed.sessionId, s2.sessionId, 'the held status went out on the new session');
  t.is(fake.statusesOf(brief).filter((r) => r.state === TaskState.COMPLETE).length, 1);

  // 2. The Assignments stream fails with an error; the session is re-made and its first
  //    Assignments message is the complete set, which still holds both tasks.
  t.is(fake.endAssignments({ code: grpc.status.INTERNAL, details: 'fake manager: assignments broke' }), 1);
  const s3 = await waitStatus(agent, 'a third session', (s) => s.connected && s.sessions.opened === 3);
  t.regex(s3.sessions.lastError ?? '', /Assignments stream .*INTERNAL: fake manager: assignments broke/);
  const first = await waitFor('the new Assignments stream to start', async () => fake.sent.find((m) => m.sessionId === s3.sessionId), 10_000);
  t.is(first.type, 'COMPLETE');
  t.is(first.applies_to, '');
  t.deepEqual(first.changes.map((c) => c.taskId).sort(), [keep, brief].sort());

  // Nothing was restarted, re-created or re-reported.
  t.true(await alive(agent), 'agentd is still the same process');
  await sleep(1_000);
  const after = new Map((await containers(nodeId)).map((c) => [c.taskId, c]));
  t.is(after.size, 2);
  t.is(after.get(keep)?.id, before.get(keep)?.id);
  t.is(after.get(keep)?.state, 'running');
  t.is(after.get(keep)?.startedAt, before.get(keep)?.startedAt);
  t.is(after.get(brief)?.id, before.get(brief)?.id);
  t.is(fake.lastStatus(keep)?.state, TaskState.RUNNING);
  t.is(fake.statusesOf(keep).filter((r) => r.state === TaskState.RUNNING).length, 1, 'RUNNING was not re-sent after reconnecting');
  const st = await agent.status();
  t.deepEqual(
    st.tasks.map((x) => [x.id, x.state]).sort(),
    [
      [keep, 'RUNNING'],
      [brief, 'COMPLETE'],
    ].sort(),
  );
  assertReportsMonotonic(t, fake);
});

test.serial('an INCREMENTAL set that does not apply makes agentd resync from a COMPLETE set', async (t) => {
  const { fake, agent, nodeId } = await rig(t);
  const a = taskId();
  const b = taskId();
  const stale = taskId();
  const bogus = taskId();
  fake.assign([containerTask(a, { service: 'resync', slot: 1 }), containerTask(b, { service: 'resync', slot: 2 })]);
  // `stale` reaches the agent but the manager forgets it: only a resync can drop it.
  fake.assign([containerTask(stale, { service: 'stale' })], { remember: false });
  for (const id of [a, b, stale]) await waitState(fake, id, TaskState.RUNNING);
  const before = new Map((await containers(nodeId)).map((c) => [c.taskId, c]));
  t.is(before.size, 3);
  const sessionsBefore = fake.sessions.length;

  // Applies to a version the agent never saw; it must not apply the change in it.
  t.is(fake.pushAssignments({ type: ASSIGNMENTS_INCREMENTAL, applies_to: '41', results_in: '42', changes: [{ action: ACTION_UPDATE, assignment: { task: containerTask(bogus, { service: 'bogus' }) } }] }), 1);
  const s = await waitStatus(agent, 'a new session after the resync', (x) => x.connected && x.sessions.opened === 2);
  t.regex(s.sessions.lastError ?? '', /INCREMENTAL assignments apply to version "41" but the last applied is "3": resyncing/);
  t.is(fake.sessions.length, sessionsBefore + 1);
  const old = fake.sessions[sessionsBefore - 1]!;
  const fresh = fake.sessions[sessionsBefore]!;
  t.log(`resync: new session ${(fresh.openedAt - (old.closedAt ?? 0)).toFixed(0)} ms after the old one closed`);
  const first = fake.sent.find((m) => m.sessionId === fresh.id);
  t.is(first?.type, 'COMPLETE');
  t.deepEqual(first?.changes.map((c) => c.taskId).sort(), [a, b].sort());

  await waitFor('the stale task to be removed', async () => !(await containers(nodeId)).some((c) => c.taskId === stale), 20_000);
  const st = await waitStatus(agent, 'agentd to hold exactly a and b', (x) => x.tasks.length === 2);
  t.deepEqual(st.tasks.map((x) => x.id).sort(), [a, b].sort());
  const after = new Map((await containers(nodeId)).map((c) => [c.taskId, c]));
  t.deepEqual([...after.keys()].sort(), [a, b].sort(), 'the bogus task was never created, the stale one is gone');
  for (const id of [a, b]) {
    t.is(after.get(id)?.id, before.get(id)?.id);
    t.is(after.get(id)?.state, 'running');
    t.is(after.get(id)?.startedAt, before.get(id)?.startedAt);
  }
  t.is(fake.statusesOf(bogus).length, 0);
  assertReportsMonotonic(t, fake);
});

test.serial('unanswered heartbeats tear the session down after the heartbeat deadline; it is re-made with backoff; containers untouched', async (t) => {
  const { fake, agent, nodeId } = await rig(t);
  const a = taskId();
  fake.assign([containerTask(a, { service: 'hb' })]);
  await waitState(fake, a, TaskState.RUNNING);
  const [before] = await containers(nodeId);
  const st0 = await agent.status();
  t.is(st0.timings.heartbeatPeriodMs, HEARTBEAT_PERIOD_MS, 'agentd uses the period the manager gives');

  // Only this session's heartbeats go unanswered; the next session is served normally.
  const old = fake.sessions[0]!;
  fake.setHangHeartbeats(true, { session: old.id });
  const hung = await waitFor(
    'a hung heartbeat to be given up',
    async () => fake.heartbeats.find((h) => h.outcome === 'hung' && h.cancelledAt !== undefined),
    SWARMKIT_DISPATCHER_RPC_TIMEOUT_MS + HEARTBEAT_PERIOD_MS + 5_000,
  );
  const s = await waitStatus(agent, 'a new session', (x) => x.connected && x.sessions.opened === 2);
  t.is(fake.sessions.length, 2);
  const fresh = fake.sessions[1]!;
  t.is(s.sessionId, fresh.id);
  fake.setHangHeartbeats(false);

  const waited = hung.cancelledAt! - hung.at;
  t.true(HEARTBEAT_TIMEOUT_MS <= SWARMKIT_DISPATCHER_RPC_TIMEOUT_MS, `HEARTBEAT_TIMEOUT_MS ${HEARTBEAT_TIMEOUT_MS} is longer than SwarmKit's`);
  t.true(waited >= HEARTBEAT_TIMEOUT_MS - 50 && waited <= HEARTBEAT_TIMEOUT_MS + 2_000, `heartbeat abandoned after ${waited.toFixed(0)} ms`);
  t.is(old.closeReason, 'cancelled', 'agentd closed the old Session stream');
  t.true(old.closedAt! >= hung.cancelledAt! - 50);
  const gap = fresh.openedAt - hung.cancelledAt!;
  // First failure of a fresh agent: a delay in [initial/2, initial], plus a TLS connection.
  t.true(gap >= SESSION_BACKOFF_INITIAL_MS / 2 - 5 && gap <= SESSION_BACKOFF_INITIAL_MS + 2_500, `new session ${gap.toFixed(0)} ms after the heartbeat failed`);
  t.log(`heartbeat given up after ${waited.toFixed(0)} ms; new session ${gap.toFixed(0)} ms later`);
  t.regex(s.sessions.lastError ?? '', /Heartbeat with .* failed: DEADLINE_EXCEEDED/);
  t.false(fake.heartbeats.some((h) => h.sessionId === old.id && h.at > old.closedAt!), 'no heartbeat on the old session after teardown');

  // Heartbeats resume on the new session at the given period.
  const beats = await waitFor(
    'heartbeats on the new session',
    async () => {
      const hs = fake.heartbeats.filter((h) => h.sessionId === fresh.id && h.outcome === 'answered');
      return hs.length >= 3 ? hs : undefined;
    },
    10_000,
  );
  for (let i = 2; i < beats.length; i++) {
    const d = beats[i]!.at - beats[i - 1]!.at;
    t.true(d >= HEARTBEAT_PERIOD_MS - 50 && d <= HEARTBEAT_PERIOD_MS + 1_000, `heartbeat interval ${d.toFixed(0)} ms`);
  }
  const [after] = await containers(nodeId);
  t.is(after?.id, before?.id);
  t.is(after?.state, 'running');
  t.is(after?.startedAt, before?.startedAt);
  t.is(fake.statusesOf(a).length, fake.statusesOf(a).filter((r) => r.sessionId === old.id).length, 'nothing re-reported for the running task');
  t.true(await alive(agent));
  assertReportsMonotonic(t, fake);
});

test.serial('a session that worked and then fails is re-made at once, whatever failures came before it (the manager declares the node down 3 heartbeat periods after its last heartbeat)', async (t) => {
  // Issue #13, three real managers: the follower agentd was on hung; the heartbeat deadline
  // noticed it within 10 s, then agentd waited out a backoff left grown by the failovers before
  // (7.8 s), the leader declared the node down and every task on it was replaced. A session
  // that registered and lived a heartbeat period shows the manager side worked: what comes next
  // is a fresh start, as SwarmKit's agent resets its backoff when a session registers.
  const { fake, agent } = await rig(t);
  const unavailable = { code: grpc.status.UNAVAILABLE, details: 'fake manager: no leader elected' };
  // Sessions refused a while (quorum lost, say): the backoff grows.
  fake.refuseSessions = unavailable;
  fake.endSessions(unavailable);
  const refusedSessions = () => fake.rejected.filter((r) => r.method === 'Session').length;
  await waitFor('six refused sessions', async () => refusedSessions() >= 6, 30_000, 20);
  fake.refuseSessions = undefined;
  const s2 = await waitStatus(agent, 'a session again', (s) => s.connected && s.sessions.opened === 2, SESSION_BACKOFF_MAX_MS + 10_000);
  // It lives a few heartbeat periods (well under 30 s), then its manager goes away.
  await waitFor('heartbeats on the new session', async () => fake.heartbeats.filter((h) => h.sessionId === s2.sessionId && h.outcome === 'answered').length >= 4, 10_000, 20);
  const failedAt = performance.now();
  fake.endSessions(unavailable);
  const s3 = await waitStatus(agent, 'a third session', (s) => s.connected && s.sessions.opened === 3, SESSION_BACKOFF_MAX_MS + 10_000);
  const fresh = fake.sessions.find((x) => x.id === s3.sessionId)!;
  const gap = fresh.openedAt - failedAt;
  t.log(`${refusedSessions()} refused sessions, then a session that worked ended; the next one ${gap.toFixed(0)} ms later`);
  // The initial delay (≤ 100 ms) and a TLS connection, not the grown backoff (≥ 3.2 s here).
  t.true(gap <= SESSION_BACKOFF_INITIAL_MS + 1_500, `new session ${gap.toFixed(0)} ms after the working one failed`);
});

test.serial('a manager certificate from another CA is refused, visibly; the right one is accepted again', async (t) => {
  const { fake, agent } = await rig(t);
  const rogue = await TestPki.create();
  fake.presentCertificate(rogue.server);
  const sessionsBefore = fake.sessions.length;
  t.is(fake.endSessions(), 1);

  const refused = await waitStatus(agent, 'agentd to fail against the untrusted certificate', (s) => !s.connected && s.sessions.failed >= 3, 20_000);
  t.log(`lastError: ${refused.sessions.lastError}`);
  t.regex(refused.sessions.lastError ?? '', /Session stream with 127\.0\.0\.1:\d+ failed: UNAVAILABLE: .*(certificate|issuer)/i);
  t.is(fake.sessions.length, sessionsBefore, 'no session got through');
  t.false(refused.connected);
  t.is(refused.sessionId, '');
  const logged = agent.logs().split('\n').filter((l) => l.includes('session ended; reconnecting'));
  t.true(logged.some((l) => /certificate|issuer/i.test(l)), 'the log says why');

  fake.presentOwnCertificate();
  const back = await waitStatus(agent, 'agentd to connect again', (s) => s.connected && s.sessions.opened === 2, SESSION_BACKOFF_MAX_MS + 10_000);
  t.is(fake.sessions.length, sessionsBefore + 1);
  t.is(back.sessionId, fake.sessions.at(-1)!.id);
});

test.serial('malformed tasks are REJECTED with the problem named; the others run and the session stays up', async (t) => {
  const { fake, agent, nodeId } = await rig(t);
  const good1 = taskId();
  const good2 = taskId();
  const malformed = [
    { id: taskId(), task: (id: string) => ({ ...containerTask(id), spec: null }), err: /: no spec$/ },
    { id: taskId(), task: (id: string) => containerTask(id, { image: '' }), err: /spec\.container\.image is empty/ },
    { id: taskId(), task: (id: string) => containerTask(id, { desired: 999 }), err: /desired_state 999 is not a known TaskState/ },
    { id: 'Not-A/Valid id', task: (id: string) => containerTask(id), err: /task id "Not-A\/Valid id" is not a valid id/ },
    { id: taskId(), task: (id: string) => ({ ...containerTask(id), spec: { resources: null } }), err: /spec has no runtime/ },
  ];
  // One message, malformed tasks between the good ones.
  fake.assign([
    containerTask(good1, { service: 'good', slot: 1 }),
    ...malformed.slice(0, 2).map((m) => m.task(m.id)),
    containerTask(good2, { service: 'good', slot: 2, command: ['/bin/sh', '-c'], args: ['exec sleep 3600'] }),
    ...malformed.slice(2).map((m) => m.task(m.id)),
  ]);
  for (const m of malformed) {
    const r = await waitState(fake, m.id, TaskState.REJECTED);
    t.regex(r.err, m.err, `task ${m.id}`);
    t.is(fake.statusesOf(m.id).length, 1, `task ${m.id} went straight to REJECTED`);
  }
  await waitState(fake, good1, TaskState.RUNNING);
  await waitState(fake, good2, TaskState.RUNNING);
  const rows = await containers(nodeId);
  t.deepEqual(rows.map((r) => r.taskId).sort(), [good1, good2].sort(), 'no container for a malformed task');
  t.true(rows.every((r) => r.state === 'running'));
  const st = await agent.status();
  t.is(st.sessions.opened, 1, 'the session survived');
  t.true(st.connected);
  for (const m of malformed) t.is(st.tasks.find((x) => x.id === m.id)?.state, 'REJECTED');
  assertReportsMonotonic(t, fake);
});

test.serial('a task without an id is skipped; it does not break the session or hold up the tasks after it', async (t) => {
  const { fake, agent, nodeId } = await rig(t);
  const good = taskId();
  // Nothing can be stored, run or reported for it; the task after it must still run.
  fake.assign([containerTask(''), containerTask(good, { service: 'after-empty-id' })]);
  await waitState(fake, good, TaskState.RUNNING, 15_000);
  const st = await agent.status();
  t.is(st.sessions.opened, 1, `the session survived (last error: ${st.sessions.lastError})`);
  t.deepEqual(st.tasks.map((x) => x.id), [good]);
  t.deepEqual((await containers(nodeId)).map((c) => c.taskId), [good]);
  t.is(fake.statusesOf('').length, 0);
});
