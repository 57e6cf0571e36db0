// `npm run bench -- tasks`: time from `docker service create --replicas 20` to all 20 tasks
// Running, on the berth node vs on the manager's own Docker worker, same manager, same
// image, interleaved in the same run. Goal: berth ≤ 0.9× Docker's own worker (ratio of the
// medians). `tasks-100` is the same at 100 replicas on one node.
//
// Where the time goes, per task, from the manager's and the engines' own timestamps (the same
// sources for both workers): the manager makes the task → the engine begins the create
// (assign) → create done (create) → start done (start) → the worker's RUNNING timestamp
// (status) → the manager stored RUNNING (ack). For berth, its own timings (agentctl task) split
// assign into the manager's dispatch (recv) and the worker's own work before the create
// (recv_to_create), and give RUNNING stored → acknowledged by the manager (report). Each
// figure is the median over the run's tasks; the JSON line holds the medians over the runs.
// BENCH_TRACE=1 prints every task's timeline (ms since the service create) on stderr. CPU per
// run: agentd, berth's engine and the manager's dockerd for berth; the manager's dockerd (manager
// and engine in one) for Docker's worker.
//
// Where the time went (2-core machine shared with other jobs, 20 tasks; dockerd -D logs, strace,
// CPU per process): the engine's create + start is ~90% of both. berth asks the engine for the
// same things as Docker's worker: the same create body, one container per task, one image
// inspect for the burst, then per task create, start, one inspect (the RUNNING status), a wait;
// no pulls, network or volume calls, no task directory for a task without secrets. Its start
// joins each container to the bridge one at a time (libnetwork's network lock, a dockerd re-exec
// per join for the IPv6 sysctls). CPU per run (9 runs, medians; the processes' own user+system
// time: containerd, shims and re-execs are left out on both sides): berth's side 1.4 s (agentd
// 0.27, its dockerd 0.79, the manager's dockerd 0.34) against 0.97 s for Docker's one dockerd
// (manager, worker and engine). agentd's ~15 ms per task is most of what berth adds; the rest
// sits in the two dockerds (the engine API's ~4 requests per task, a second process) and is not
// split further. The engines already saturate the CPU, so that extra CPU is extra time.
// Holding berth's creates to 2 in flight (so the first start comes sooner, as Docker's worker's
// pull attempts space its creates) cut the create phase from ~400 to ~80 ms but showed no
// clear gain in total (9 runs: 1.09× by per-run ratio, 1.22× by medians); raw creates + starts
// straight on the engine took the same time at 100, 16 or 8 in flight.
//
// What made the difference (2026-12-07): the engine's start is mostly making the container's
// network namespace, not the bridge join. `npm run bench -- engine-netmode` (20 concurrent
// create+start straight on dockerd, 5 runs, load 12-32): NetworkMode none 0.96x the time of
// bridge, a pause sandbox per task 1.30x, joining one running container's netns 0.40x. So
// plumbing the default network in berth (NetworkMode none + a veth of its own) would save
// little, and could not be done before the task's process runs (the engine API has no step
// between its netns and the process); measured in this benchmark with none and no plumbing at
// all, 9 runs: 0.98x Docker (per-run 0.78-1.09). What berth keeps: warm sandboxes
// (agent/exec/docker/sandbox-pool.ts, agentd --sandbox-pool N, off by default): pause
// containers on the engine bridge made while the node is idle; a task without networks,
// ports, hostname, extra hosts or DNS settings takes one and joins its netns, keeping the
// bridge's egress and address. Until the gateway default below, this benchmark ran berth with
// --sandbox-pool 20 (BENCH_SANDBOX_POOL=N still does) and waited before each measurement until the pool
// is full, so refills never run during either worker's measurement (now only with
// --networkless-tasks bridge, see below). 9 runs, load 12-16:
// 0.52x Docker (berth 2.76 s, Docker 5.29 s; per run 0.35-0.63; start phase 1.29 s vs 3.53 s);
// again at load 17-22: 0.66x (5.89 s vs 8.98 s; per run 0.43-0.86). The same tree with
// BENCH_SANDBOX_POOL=0 at load 28-38: per run 0.77-1.41 (median 1.17). tasks-100 (20 of the
// 100 take a warm one), 3 runs, load 15-38: 0.89x (18.9 s vs 21.3 s); again at load 9-49:
// 0.79x (31.6 s vs 39.7 s; per run 0.72-1.07). Warm sandboxes shift the netns work to idle
// time, they do not remove it: a node that starts tasks without pause gains only the first
// burst of the pool's size.
//
// `tasks-overlay` puts every task on one overlay network, as most Swarm services run; berth
// runs at its default (no pool: an overlay task gets a sandbox berth plumbs, never a warm one),
// and the trace adds the sandbox's phases (sandbox_create, sandbox_start, sandbox_to_create:
// plumbed → task container create). Docker's worker has libnetwork join each container to the
// overlay and the gateway bridge (its start ~3 s median in the burst). 2026-12-07, quiet, 9 runs
// each: 0.82x Docker (berth 3.60 s, Docker 4.39 s) with sandboxes of NetworkMode none, whose
// start (2.0 s median) was libnetwork's sandbox for mode none; with the sandbox made without the
// engine's networking (NetworkDisabled; berth writes its /etc/hosts) 0.57x (2.51 s vs 4.40 s;
// per run 0.52-0.64), the sandbox's start 0.92 s; with the pause process unconfined (below)
// 0.61x (2.51 s vs 4.13 s; per run 0.55-0.79). tasks-overlay-100, 3 runs: 0.79x (14.0 s vs
// 17.7 s). At 100 replicas the engine's event log (its last 256 events) no longer holds a
// burst's first events: a phase whose events are gone is left out of that run's medians.
//
// The default now (2026-12-07, fifth session): a task without networks runs in a sandbox berth plumbs onto its
// gateway bridge (agentd --networkless-tasks gateway), made without the engine's networking as
// an overlay task's is, so its start skips libnetwork's sandbox. The benchmark runs berth at
// that default, no pool (BENCH_NETWORKLESS_TASKS=bridge measures the engine's bridge). Quiet
// machine, 9 runs: 0.91x Docker (berth 2.37 s vs 2.60 s; per run 0.77-0.95) with the pause
// container under the engine's default seccomp profile; without a filter for it (no
// capabilities, no-new-privileges: ~1/4 less of the machine's CPU per pause start, 20 at once)
// 0.86x (2.26 s vs 2.64 s; per run 0.64-0.99), again 0.85x (2.52 s vs 2.95 s; per run
// 0.71-0.99). tasks-100, 3 runs: 1.12x, then 1.07x with the
// unconfined pause (12.8 s vs 11.9 s): 100 at once keep this 2-core machine's CPU busy for
// both, and berth's two starts per task (pause ~95 ms + task ~125 ms of the machine's CPU:
// dockerd, containerd, shim, runc) cost about what Docker's one bridge start does (~240 ms,
// libnetwork's setkey hook re-executing dockerd included).
import { readFileSync } from 'node:fs';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { sleep } from '../../scripts/lib/exec.js';
import { controlRequest } from '../../agent/control.js';
import type { TaskTimings } from '../../agent/worker/worker.js';

import { median } from './core.js';
import { defineBenchmark, type Benchmark } from './types.js';

const POLL_MS = 50;
const RUN_TIMEOUT_MS = 180_000;
/** agentd's --sandbox-pool (BENCH_SANDBOX_POOL=N measures berth with N warm sandboxes, which
 *  only tasks on the engine's bridge take: it implies --networkless-tasks bridge). */
const SANDBOX_POOL = Number(process.env.BENCH_SANDBOX_POOL ?? 0);
/** agentd's --networkless-tasks (BENCH_NETWORKLESS_TASKS=bridge measures the engine's bridge). */
const NETWORKLESS_TASKS = process.env.BENCH_NETWORKLESS_TASKS ?? (SANDBOX_POOL > 0 ? 'bridge' : 'gateway');
/** The overlay scenario's network, made once on the manager; every run's service attaches to it. */
const OVERLAY = { name: 'benchnet', subnet: '10.127.0.0/16' };

export interface TasksScenario {
  /** Attach every task to one overlay network: berth plumbs it (a sandbox per task), Docker's
   *  worker has libnetwork do it. */
  overlay?: boolean;
}
const POOL_FILL_TIMEOUT_MS = 120_000;

interface Ctx {
  underlay: Underlay;
  manager: SwarmManager;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  berthNode: string;
  dockerNode: string;
  pool: number;
  network: string | undefined;
}

type Who = 'berth' | 'docker';

interface ManagerTask {
  ID: string;
  CreatedAt: string;
  UpdatedAt: string;
  Status: { Timestamp: string; State: string };
}

interface EngineEvent {
  id: string;
  Action: string;
  timeNano: number;
}

const ms = (iso: string): number => Date.parse(iso);

/** CPU time (user + system) a process has used, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

/** Per-phase medians over one run's tasks (see the header), and the last task's figures. */
async function trace(ctx: Ctx, who: Who, name: string, t0: number): Promise<Record<string, number>> {
  const d = ctx.manager.dockerd;
  const engine = who === 'berth' ? ctx.engine : d;
  const ids = (await d.docker(['service', 'ps', '--no-trunc', '-q', '--filter', 'desired-state=running', name])).stdout.trim().split('\n');
  const tasks = JSON.parse((await d.docker(['inspect', '--type', 'task', ...ids])).stdout) as ManagerTask[];
  // By the engine's labels, not the manager's container status: the same lookup on both nodes.
  const listed = (await engine.docker(['ps', '-a', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${name}`, '--format', '{{.ID}} {{.Label "com.docker.swarm.task.id"}}'])).stdout;
  const containerOf = new Map(
    listed
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([cid, tid]) => [tid ?? '', cid ?? '']),
  );
  const containerIds = tasks.map((t) => containerOf.get(t.ID) ?? '');
  const containers = JSON.parse((await engine.docker(['inspect', '--type', 'container', ...containerIds.filter((c) => c !== '')])).stdout) as Array<{ Id: string; Created: string }>;
  const createdAt = new Map(containers.map((c) => [c.Id, ms(c.Created)]));
  const until = (Date.now() + 1000) / 1000;
  const events = (await engine.docker(['events', '--since', (t0 / 1000 - 1).toFixed(3), '--until', until.toFixed(3), '--filter', 'type=container', '--filter', 'event=create', '--filter', 'event=start', '--format', '{{json .}}'])).stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as EngineEvent);
  const eventAt = (id: string, action: string) => {
    const ev = events.find((e) => e.id === id && e.Action === action);
    return ev ? ev.timeNano / 1e6 : NaN;
  };
  // berth's sandboxes (overlay tasks, and networkless ones on the gateway bridge): found by
  // berth's own labels, which Swarm tooling ignores.
  const sandboxOf = new Map<string, { id: string; createBegan: number }>();
  if (who === 'berth') {
    const sandboxes = (await engine.docker(['ps', '-a', '--no-trunc', '--filter', 'label=io.berth.role=sandbox', '--format', '{{.ID}} {{.Label "io.berth.task.id"}}'])).stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' '));
    const inspected = sandboxes.length === 0 ? [] : (JSON.parse((await engine.docker(['inspect', '--type', 'container', ...sandboxes.map(([sid]) => sid!)])).stdout) as Array<{ Id: string; Created: string }>);
    const sandboxCreated = new Map(inspected.map((c) => [c.Id, ms(c.Created)]));
    for (const [sid, tid] of sandboxes) sandboxOf.set(tid!, { id: sid!, createBegan: sandboxCreated.get(sid!) ?? NaN });
  }
  const berthTimings = new Map<string, TaskTimings | undefined>();
  if (who === 'berth') {
    for (const t of tasks) {
      const detail = (await controlRequest(ctx.agentd.controlSocket, `/task?id=${t.ID}`)) as { timings?: TaskTimings };
      berthTimings.set(t.ID, detail.timings);
    }
  }
  const phases: Record<string, number[]> = {};
  const add = (phase: string, v: number) => (phases[phase] ??= []).push(v);
  for (const [i, t] of tasks.entries()) {
    const cid = containerIds[i]!;
    const made = ms(t.CreatedAt);
    const createBegan = createdAt.get(cid) ?? NaN;
    const created = eventAt(cid, 'create');
    const started = eventAt(cid, 'start');
    const runningAt = ms(t.Status.Timestamp);
    const stored = ms(t.UpdatedAt);
    add('sched', made - t0);
    add('assign', createBegan - made);
    add('create', created - createBegan);
    add('start', started - created);
    add('status', runningAt - started);
    add('ack', stored - runningAt);
    add('last_running', stored - t0);
    if (process.env.BENCH_TRACE) {
      const at = (v: number) => Math.round(v - t0);
      process.stderr.write(`    ${who} ${t.ID.slice(0, 8)} made ${at(made)} create ${at(createBegan)}–${at(created)} started ${at(started)} RUNNING ${at(runningAt)} stored ${at(stored)}\n`);
    }
    const bt = berthTimings.get(t.ID);
    const sb = sandboxOf.get(t.ID);
    if (sb) {
      add('sandbox_create', eventAt(sb.id, 'create') - sb.createBegan);
      add('sandbox_start', eventAt(sb.id, 'start') - eventAt(sb.id, 'create'));
      add('sandbox_to_create', createBegan - eventAt(sb.id, 'start'));
    }
    if (bt) {
      add('recv', bt.assigned - made);
      add('recv_to_create', createBegan - bt.assigned);
      if (sb) add('recv_to_sandbox', sb.createBegan - bt.assigned);
      if (bt.stored.RUNNING !== undefined && bt.runningReported !== undefined) add('report', bt.runningReported - bt.stored.RUNNING);
    }
  }
  const out: Record<string, number> = {};
  for (const [phase, values] of Object.entries(phases)) {
    const finite = values.filter(Number.isFinite);
    if (finite.length === 0) continue;
    out[`${who}_${phase}_ms`] = phase === 'last_running' ? Math.max(...finite) : median(finite);
  }
  return out;
}

async function waitPoolFull(ctx: Ctx): Promise<void> {
  if (ctx.pool === 0) return;
  const deadline = Date.now() + POOL_FILL_TIMEOUT_MS;
  for (;;) {
    const warm = (await ctx.engine.docker(['ps', '-q', '--filter', 'label=io.berth.role=pool', '--filter', 'name=berth-pool.'])).stdout.trim().split('\n').filter(Boolean).length;
    if (warm >= ctx.pool) return;
    if (Date.now() > deadline) throw new Error(`berth's sandbox pool not full (${warm}/${ctx.pool}) after ${POOL_FILL_TIMEOUT_MS} ms`);
    await sleep(200);
  }
}

async function timeToRunning(ctx: Ctx, who: Who, name: string, replicas: number): Promise<Record<string, number>> {
  const d = ctx.manager.dockerd;
  const nodeId = who === 'berth' ? ctx.berthNode : ctx.dockerNode;
  // CPU of the processes that do the work, over the same span: the worker's engine (for Docker's
  // worker it is the manager's dockerd, which also runs the manager), the manager's dockerd when
  // the worker is elsewhere, agentd. Less noisy than wall time on a shared machine, and it shows
  // whether a worker makes its engine do more.
  const cpuPids: Record<string, number> =
    who === 'berth' ? { berth_agentd_cpu_ms: ctx.agentd.pid, berth_engine_cpu_ms: ctx.engine.pid, berth_manager_cpu_ms: d.pid } : { docker_dockerd_cpu_ms: d.pid };
  // Berth's warm sandboxes are made while its node is idle: each measurement starts with the
  // pool full, so refills never run during either worker's measurement.
  await waitPoolFull(ctx);
  const cpu0 = Object.fromEntries(Object.entries(cpuPids).map(([k, pid]) => [k, cpuMs(pid)]));
  const t0Wall = Date.now();
  const t0 = performance.now();
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--replicas', String(replicas), '--constraint', `node.id==${nodeId}`, ...(ctx.network ? ['--network', ctx.network] : []), TEST_IMAGE, 'sleep', '3600']);
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const out = (await d.docker(['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
    if (out.length === replicas && out.every((l) => l.startsWith('Running'))) break;
    if (Date.now() > deadline) throw new Error(`${name}: not all ${replicas} Running after ${RUN_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const total = performance.now() - t0;
  const cpu = Object.fromEntries(Object.entries(cpuPids).map(([k, pid]) => [k, cpuMs(pid) - cpu0[k]!]));
  const phases = await trace(ctx, who, name, t0Wall);
  await d.docker(['service', 'rm', name]);
  // Let the node settle (containers removed) before the next measurement.
  const engine = who === 'berth' ? ctx.engine : d;
  for (let i = 0; i < 1200; i++) {
    const left = (await engine.docker(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${name}`])).stdout.trim();
    if (left === '') break;
    await sleep(100);
  }
  return { [`${who}_ms`]: total, ...cpu, ...phases };
}

export function tasksBenchmark(replicas: number, runs: number, scenario: TasksScenario = {}): Benchmark<Ctx> {
  const onWhat = scenario.overlay ? ` on overlay network ${OVERLAY.name}` : '';
  const agentdArgs = ['--log-level', 'warn', '--sandbox-pool', String(SANDBOX_POOL), '--networkless-tasks', NETWORKLESS_TASKS];
  return defineBenchmark<Ctx>({
    description: `service create --replicas ${replicas}${onWhat} → all Running: berth node (${agentdArgs.slice(2).join(' ')}) vs Docker's own worker (the manager's node)`,
    runs,
    async setup() {
      const underlay = await createHosts(2);
      const manager = await startSwarmManager(underlay.hosts[0]!);
      const engine = await startDockerd({ host: underlay.hosts[1]! });
      const agentd = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, extraArgs: agentdArgs });
      const st = await waitConnected(agentd);
      if (scenario.overlay) await manager.dockerd.docker(['network', 'create', '--driver', 'overlay', '--subnet', OVERLAY.subnet, OVERLAY.name]);
      return { underlay, manager, engine, agentd, berthNode: st.nodeId, dockerNode: manager.nodeId, pool: SANDBOX_POOL, network: scenario.overlay ? OVERLAY.name : undefined };
    },
    async measure(ctx, run) {
      // Alternate which goes first so drift on a noisy machine hits both alike.
      const order: Who[] = run % 2 === 0 ? ['berth', 'docker'] : ['docker', 'berth'];
      let out: Record<string, number> = {};
      for (const who of order) out = { ...out, ...(await timeToRunning(ctx, who, `bench-${who}-${run}`, replicas)) };
      out.ratio = out.berth_ms! / out.docker_ms!;
      out.berth_sandbox_pool = ctx.pool;
      return out;
    },
    async teardown(ctx) {
      await ctx.agentd.destroy();
      await ctx.engine.stop();
      await ctx.manager.stop();
      await ctx.underlay.destroy();
    },
    goals: {
      berth_vs_docker: { value: (m) => m.berth_ms! / m.docker_ms!, target: '<= 0.9' },
    },
  });
}

export default tasksBenchmark(20, 9);
