// kill -9 agentd at 50 random moments while a FakeManager streams a burst of assignments
// (new tasks; staged tasks started or cancelled; long ones shut down; finished ones removed),
// restarting it each time on the same state dir and the same private dockerd. Across every UpdateTaskStatus the fake recorded, each task's reports must
// only move forward; at the end every task's final status has been reported and the engine
// holds exactly one container per task that should still exist.
import test, { type ExecutionContext } from 'ava';
import { startDockerd } from '../../scripts/lib/dockerd.js';
import type { AgentdProcess } from '../../scripts/lib/agentd.js';
import { sleep, uniqueName, waitFor } from '../../scripts/lib/exec.js';
import { logRecords, removeNodeState, startLocalAgentd, waitUp } from '../fixtures/local-agentd.js';
import { FakeManager, containerTask, taskId, type StatusRecord } from '../fixtures/test-manager.js';
import { TaskState, isTerminal, stateName } from '../../agent/worker/task-state.js';

const RUNS = 50;
const KILL_AFTER_MS: readonly [number, number] = [50, 1_500];
const NEW_TASKS_PER_RUN: readonly [number, number] = [10, 20];
/**
 * Of each run's new tasks: LONG run `sleep 3600` (the next run shuts them down), SHORT run
 * `true` to COMPLETE, the rest are staged: desired READY (prepared, not started, as SwarmKit's
 * stop-first updates do); the next run starts STAGED_STARTS of them and cancels the others.
 * Few containers start per run, which keeps 50 runs cheap for the engine.
 */
const LONG_PER_RUN = 2;
const SHORT_PER_RUN = 2;
const STAGED_STARTS = 2;
const CHUNK: readonly [number, number] = [1, 4];
/** Spreads a burst over ~0.3–1.5 s, so many kills land while assignments still arrive. */
const CHUNK_GAP_MS: readonly [number, number] = [40, 200];
const SETTLE_TIMEOUT_MS = 60_000;

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const randInt = (lo: number, hi: number) => Math.floor(rand(lo, hi + 1));
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

type Kind = 'long' | 'short' | 'staged';
type Op = { op: 'new'; id: string; kind: Kind } | { op: 'desire'; id: string; state: number };

/** The state a task must end in, from what it runs and the last state the manager desired. */
function expectedFinal(kind: Kind, desired: number): number {
  if (desired >= TaskState.SHUTDOWN) return TaskState.SHUTDOWN;
  return kind === 'long' ? TaskState.RUNNING : kind === 'staged' && desired === TaskState.READY ? TaskState.READY : TaskState.COMPLETE;
}

/**
 * The rule for reports, per task, in arrival order: a state is never lower than the one
 * before it; it may equal it only when it comes from a later agentd process (the earlier one
 * was killed after the manager accepted the report but before it recorded the acknowledgement)
 * and is that process's first report of the task. So a (task, state) pair is reported at most
 * once per process, and a re-sent state is always the latest one already reported.
 */
function reportProblems(statuses: readonly StatusRecord[]): { problems: string[]; resends: number } {
  const byTask = new Map<string, StatusRecord[]>();
  for (const r of statuses) byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r]);
  const problems: string[] = [];
  let resends = 0;
  for (const [id, recs] of byTask) {
    const trail = () => recs.map((r) => `${stateName(r.state)}@${r.label}`).join(' → ');
    const gens = new Set<string>();
    for (let i = 1; i < recs.length; i++) {
      const prev = recs[i - 1]!;
      const cur = recs[i]!;
      gens.add(prev.label);
      if (cur.state < prev.state) problems.push(`task ${id} went backwards: ${trail()}`);
      else if (cur.state === prev.state) {
        if (cur.label === prev.label) problems.push(`task ${id}: ${stateName(cur.state)} reported twice by one process: ${trail()}`);
        else if (gens.has(cur.label)) problems.push(`task ${id}: re-send is not the process's first report: ${trail()}`);
        else resends++;
      }
    }
  }
  return { problems, resends };
}

async function resumedCount(agent: AgentdProcess): Promise<number | undefined> {
  const rec = logRecords(agent.logs()).find((r) => r.msg === 'worker resumed tasks from the store');
  return rec ? Number(rec.tasks) : undefined;
}

test(`agentd survives kill -9 at ${RUNS} random moments during assignment bursts: reports only move forward, no duplicate containers`, async (t: ExecutionContext) => {
  // Below ava's 5-minute inactivity limit, so a slow machine fails the test with its teardown run.
  t.timeout(240_000, `${RUNS} kill/restart cycles did not finish in 4 minutes`);
  const started = Date.now();
  const engine = await startDockerd();
  t.teardown(() => engine.stop());
  const fake = await FakeManager.start({ heartbeatPeriodMs: 1_000 });
  t.teardown(() => fake.close());
  const stateDir = `/var/lib/berth-test/${uniqueName('crash')}-state`;
  t.teardown(() => removeNodeState(stateDir));

  const kinds = new Map<string, Kind>();
  const desired = new Map<string, number>();
  let slot = 0;
  // Like the manager: a task that reached a terminal state is taken off the node.
  fake.onStatus((r) => {
    if (isTerminal(r.state) && fake.task(r.taskId)) fake.remove([r.taskId]);
  });
  const desire = (ids: string[], state: number) => {
    const live = ids.filter((id) => fake.task(id));
    for (const id of live) desired.set(id, state);
    if (live.length > 0) fake.setDesiredState(live, state);
  };
  const assignedWith = (kind: Kind, state: number) => fake.assigned().map((x) => x.id ?? '').filter((id) => kinds.get(id) === kind && desired.get(id) === state);

  let agent: AgentdProcess | undefined;
  t.teardown(async () => {
    if (agent && !t.passed) t.log(`--- agentd log (tail) ---\n${agent.logs().split('\n').slice(-40).join('\n')}`);
    await agent?.destroy();
  });
  const stats = { killsDuringBurst: 0, tasks: 0, restartMs: [] as number[] };
  /** agentd's warnings about failed task steps, over every run, for failure messages. */
  const failures: string[] = [];
  const collectFailures = (a: AgentdProcess, label: string) => {
    for (const r of logRecords(a.logs())) {
      if ((r.level ?? 0) >= 40 && typeof r.msg === 'string' && /fail/.test(r.msg) && !r.msg.startsWith('session ended')) failures.push(`${label}: ${r.msg} ${String(r.task ?? '')} ${String(r.err ?? '')}`);
    }
  };
  let mustResume = 0;

  const start = async (label: string, join: boolean) => {
    fake.label = label;
    const t0 = performance.now();
    const a = await startLocalAgentd({ manager: fake.address, dockerd: engine, stateDir, logLevel: 'info', ...(join ? { joinToken: fake.workerToken } : {}) });
    agent = a;
    await waitUp(a, 30_000);
    stats.restartMs.push(performance.now() - t0);
    const resumed = await resumedCount(a);
    t.not(resumed, undefined, `${label}: agentd logged how many tasks it resumed`);
    t.true((resumed ?? -1) >= mustResume, `${label}: resumed ${resumed} tasks from the store, at least ${mustResume} were stored`);
    return a;
  };

  for (let run = 0; run < RUNS; run++) {
    const a = await start(`run${run}`, run === 0);
    const killAfter = rand(...KILL_AFTER_MS);
    const burstStart = performance.now();
    let killed = false;
    let burstDone = false;
    const burst = (async () => {
      const staged = assignedWith('staged', TaskState.READY);
      const ops: Op[] = [
        ...assignedWith('long', TaskState.RUNNING).map((id): Op => ({ op: 'desire', id, state: TaskState.SHUTDOWN })),
        ...staged.map((id, i): Op => ({ op: 'desire', id, state: i < STAGED_STARTS ? TaskState.RUNNING : TaskState.SHUTDOWN })),
        ...Array.from({ length: randInt(...NEW_TASKS_PER_RUN) }, (_, i): Op => ({ op: 'new', id: taskId(), kind: i < LONG_PER_RUN ? 'long' : i < LONG_PER_RUN + SHORT_PER_RUN ? 'short' : 'staged' })),
      ];
      shuffle(ops);
      for (let i = 0; i < ops.length && !killed; ) {
        const chunk = ops.slice(i, i + randInt(...CHUNK));
        i += chunk.length;
        const fresh = chunk.filter((o) => o.op === 'new');
        for (const o of fresh) {
          kinds.set(o.id, o.kind);
          desired.set(o.id, o.kind === 'staged' ? TaskState.READY : TaskState.RUNNING);
        }
        stats.tasks += fresh.length;
        if (fresh.length > 0) {
          fake.assign(fresh.map((o) => containerTask(o.id, { service: o.kind, slot: ++slot, args: o.kind === 'long' ? ['sleep', '3600'] : ['true'], desired: desired.get(o.id)! })));
        }
        for (const state of [TaskState.RUNNING, TaskState.SHUTDOWN]) {
          desire(chunk.filter((o): o is Extract<Op, { op: 'desire' }> => o.op === 'desire' && o.state === state).map((o) => o.id), state);
        }
        await sleep(rand(...CHUNK_GAP_MS));
      }
      burstDone = true;
    })();
    await sleep(killAfter - (performance.now() - burstStart));
    killed = true;
    if (!burstDone) stats.killsDuringBurst++;
    await a.kill('SIGKILL');
    await burst;
    collectFailures(a, `run${run}`);
    await a.destroy();
    // Every task the fake still assigns and has heard from was stored by the agent; the
    // agent only drops a task on REMOVE or a COMPLETE set without it, which it never got.
    mustResume = fake.assigned().filter((task) => fake.lastStatus(task.id ?? '')).length;
  }

  // Final run: no more kills. Staged tasks still waiting are cancelled; what should remain
  // are the long tasks still desired RUNNING.
  const last = await start('final', false);
  desire(assignedWith('staged', TaskState.READY), TaskState.SHUTDOWN);
  const keep = new Set(assignedWith('long', TaskState.RUNNING));
  const unsettled = () =>
    fake
      .assigned()
      .map((task) => task.id ?? '')
      .filter((id) => !(keep.has(id) && fake.lastStatus(id)?.state === TaskState.RUNNING));
  await waitFor('the long tasks RUNNING, every other task reported terminal and removed', async () => unsettled().length === 0, SETTLE_TIMEOUT_MS).catch(async (err: unknown) => {
    const view = new Map((await last.status()).tasks.map((x) => [x.id, x]));
    const stuck = unsettled().map((id) => {
      const r = fake.lastStatus(id);
      const v = view.get(id);
      return `${id} (${kinds.get(id)}, desired ${stateName(desired.get(id)!)}): reported ${r ? stateName(r.state) : 'nothing'}, agentd has ${v ? `${v.state} (desired ${v.desired}, ${v.message}) ${v.err ?? ''}` : 'nothing'}`;
    });
    collectFailures(last, 'final');
    throw new Error(`${(err as Error).message}\nunsettled tasks:\n${stuck.join('\n')}\nagentd reported:\n${failures.slice(-20).join('\n')}`);
  });
  const st = await waitFor(
    'agentd to hold exactly the assigned tasks',
    async () => {
      const s = await last.status();
      return s.tasks.length === keep.size && s.tasks.every((x) => keep.has(x.id)) ? s : undefined;
    },
    SETTLE_TIMEOUT_MS,
  );

  // Reports: only forward, and a final one for every task.
  const { problems, resends } = reportProblems(fake.statuses);
  t.deepEqual(problems, []);
  const unexpected: string[] = [];
  for (const [id, kind] of kinds) {
    const final = fake.lastStatus(id);
    const want = expectedFinal(kind, desired.get(id)!);
    if (!final) unexpected.push(`task ${id} (${kind}) never reported`);
    else if (final.state !== want) unexpected.push(`task ${id} (${kind}, desired ${stateName(desired.get(id)!)}) ended ${stateName(final.state)} (${final.err}), expected ${stateName(want)}`);
  }
  t.deepEqual(unexpected, []);
  for (const x of st.tasks) t.is(x.state, 'RUNNING', `task ${x.id} as agentd sees it`);

  // Containers: exactly one per remaining task, running; none for removed tasks. Removals run
  // beside the assignment stream, so the tasks leave agentd's view before their containers go.
  const containersByTask = async () => {
    const rows = (await engine.docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}\t{{.Label "com.docker.swarm.task.id"}}\t{{.State}}'])).stdout.trim().split('\n').filter(Boolean);
    const out = new Map<string, string[]>();
    for (const row of rows) {
      const [, task, state] = row.split('\t') as [string, string, string];
      out.set(task, [...(out.get(task) ?? []), state]);
    }
    return out;
  };
  const sameKeys = (m: Map<string, string[]>) => m.size === keep.size && [...m.keys()].every((k) => keep.has(k));
  let byTask = await containersByTask();
  await waitFor('the removed tasks’ containers gone', async () => sameKeys((byTask = await containersByTask())), SETTLE_TIMEOUT_MS).catch(() => undefined);
  collectFailures(last, 'final');
  t.deepEqual([...byTask.keys()].sort(), [...keep].sort(), `containers exist exactly for the assigned tasks; agentd reported:\n${failures.slice(-20).join('\n')}`);
  for (const [task, states] of byTask) t.deepEqual(states, ['running'], `task ${task}`);

  const restart = stats.restartMs.sort((x, y) => x - y);
  t.log(
    `${RUNS} kills (${stats.killsDuringBurst} during a burst), ${stats.tasks} tasks, ${fake.statuses.length} status reports (${resends} re-sent after a kill), ` +
      `restart→connected median ${restart[restart.length >> 1]!.toFixed(0)} ms, max ${restart.at(-1)!.toFixed(0)} ms, total ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
});
