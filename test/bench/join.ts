// `npm run bench -- join`: process start → Ready on a real manager, for agentd from the built
// layout (dist/, what the package ships; started as the package's wrapper does: node + agentd.js)
//   - fresh: a new state dir and a worker token (CA fetch → CSR → certificate → session);
//   - restart: the same state dir (saved identity) after the manager has marked the node Down;
// and Docker's own `docker swarm join` on a running private dockerd (fresh join), same manager,
// interleaved. "Ready" is what `docker node ls` shows: the node's Status.State on the manager,
// read over the manager engine's API socket every POLL_MS (no CLI process per poll), so a figure
// includes spawning the process (nsenter + node), everything agentd does, and ≤ POLL_MS + one
// API round trip of observation. For agentd, its own start-up timeline (agentctl status --json,
// timings.startup: ms since its process started) is in the figures as *_at_<step>_ms, and the
// CPU its process used until Ready was seen (*_cpu_to_ready_ms), which other load on the
// machine does not inflate the way it inflates wall-clock figures.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { removeNodeState, startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { ensureBuilt } from '../../scripts/lib/built.js';
import { sleep } from '../../scripts/lib/exec.js';
import { STARTUP_STEPS } from '../../agent/startup-timeline.js';
import { defineBenchmark } from './types.js';

const READY_TIMEOUT_MS = 60_000;
/** The manager marks a silent node Down after a few heartbeat periods (5 s each). */
const DOWN_TIMEOUT_MS = 60_000;
const POLL_MS = 10;
const API_TIMEOUT_MS = 5_000;

interface Ctx {
  underlay: Underlay;
  manager: SwarmManager;
  berthEngine: PrivateDockerd;
  dockerEngine: PrivateDockerd;
}

interface SwarmNode {
  ID: string;
  Description?: { Hostname?: string };
  Status?: { State?: string };
}

/** GET on the manager engine's API socket (JSON). */
function managerApi<T>(manager: SwarmManager, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: manager.dockerd.socketPath, path, timeout: API_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`manager API ${path}: ${res.statusCode} ${body}`));
        else resolve(JSON.parse(body) as T);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`manager API ${path}: no answer within ${API_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

/** Polls until a node matching `match` is in `state`; returns its id. */
async function untilNode(manager: SwarmManager, what: string, match: (n: SwarmNode) => boolean, state: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = await managerApi<SwarmNode[]>(manager, '/nodes');
    const node = nodes.find((n) => match(n) && n.Status?.State === state);
    if (node) return node.ID;
    if (Date.now() > deadline) throw new Error(`${what} not ${state} within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

/** CPU (user + system) a process has used, in ms: what start-up costs, whatever else the machine runs. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const byHostname = (hostname: string) => (n: SwarmNode) => n.Description?.Hostname === hostname;
const byId = (id: string) => (n: SwarmNode) => n.ID === id;

/** agentd's start-up steps as figures: <prefix>_at_<step>_ms. */
function stepFigures(prefix: string, startup: Record<string, number | undefined> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const step of STARTUP_STEPS) {
    const ms = startup[step];
    if (ms !== undefined) out[`${prefix}_at_${step}_ms`] = ms;
  }
  return out;
}

/** BENCH_BASELINE_AGENTD=<path to another build's agentd.js>: that build runs too, interleaved,
 *  its figures prefixed baseline_ (before/after comparisons on the same machine state). */
const BASELINE_AGENTD = process.env.BENCH_BASELINE_AGENTD;

async function berthStartToReady(ctx: Ctx, hostname: string, match: (n: SwarmNode) => boolean, stateDir?: string, command?: readonly string[]): Promise<{ agentd: AgentdProcess; readyMs: number; cpuMs: number; id: string }> {
  const t0 = performance.now();
  const agentd = await startAgentd({
    host: ctx.underlay.hosts[1]!,
    dockerd: ctx.berthEngine,
    manager: ctx.manager.address,
    joinToken: ctx.manager.workerToken,
    hostname,
    logLevel: 'warn',
    extraArgs: ['--no-data-plane'],
    ...(stateDir ? { stateDir } : {}),
    ...(command ? { command } : {}),
  });
  try {
    const id = await untilNode(ctx.manager, hostname, match, 'ready', READY_TIMEOUT_MS);
    const readyMs = performance.now() - t0;
    return { agentd, readyMs, cpuMs: processCpuMs(agentd.pid), id };
  } catch (err) {
    await agentd.destroy();
    throw err;
  }
}

async function berthJoinAndRestart(ctx: Ctx, run: number, name = 'berth', command?: readonly string[]): Promise<Record<string, number>> {
  const hostname = `${name}-bench-${run}`;
  const fresh = await berthStartToReady(ctx, hostname, byHostname(hostname), undefined, command);
  const stateDir = fresh.agentd.stateDir;
  let restarted: AgentdProcess | undefined;
  try {
    const st = await waitConnected(fresh.agentd);
    await fresh.agentd.kill('SIGTERM');
    await untilNode(ctx.manager, hostname, byId(fresh.id), 'down', DOWN_TIMEOUT_MS);
    const again = await berthStartToReady(ctx, hostname, byId(fresh.id), stateDir, command);
    restarted = again.agentd;
    const st2 = await waitConnected(again.agentd);
    return {
      [`${name}_fresh_ready_ms`]: fresh.readyMs,
      [`${name}_restart_ready_ms`]: again.readyMs,
      [`${name}_fresh_cpu_to_ready_ms`]: fresh.cpuMs,
      [`${name}_restart_cpu_to_ready_ms`]: again.cpuMs,
      [`${name}_join_ms`]: st.timings.joinMs ?? Number.NaN,
      [`${name}_session_open_ms`]: st.timings.sessionOpenMs,
      [`${name}_heartbeat_rtt_ms`]: st.timings.heartbeatRttMs,
      ...stepFigures(`${name}_fresh`, st.timings.startup),
      ...stepFigures(`${name}_restart`, st2.timings.startup),
      ...stepFigures(`${name}_fresh_cpu`, st.timings.startupCpu),
      ...stepFigures(`${name}_restart_cpu`, st2.timings.startupCpu),
    };
  } finally {
    await restarted?.destroy();
    await fresh.agentd.destroy();
    await ctx.manager.dockerd.docker(['node', 'rm', '--force', fresh.id]).catch(() => undefined);
    await removeNodeState(stateDir);
  }
}

async function dockerJoin(ctx: Ctx): Promise<Record<string, number>> {
  const t0 = performance.now();
  await ctx.dockerEngine.docker(['swarm', 'join', '--token', ctx.manager.workerToken, '--advertise-addr', ctx.underlay.hosts[2]!.address, ctx.manager.address]);
  // The engine shares the machine's hostname (namespaces do not change it): find it by id.
  const id = (await ctx.dockerEngine.docker(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  await untilNode(ctx.manager, `docker node ${id}`, byId(id), 'ready', READY_TIMEOUT_MS);
  const ready = performance.now() - t0;
  await ctx.dockerEngine.docker(['swarm', 'leave', '--force']);
  await ctx.manager.dockerd.docker(['node', 'rm', '--force', id]);
  return { docker_ready_ms: ready };
}

export default defineBenchmark<Ctx>({
  description: 'process start → Ready on the manager: agentd fresh join and restart vs docker swarm join',
  runs: 5,
  async setup() {
    // Before any clock starts: a stale dist/ is rebuilt here, not inside a measured start.
    await ensureBuilt();
    const underlay = await createHosts(3);
    const manager = await startSwarmManager(underlay.hosts[0]!);
    const berthEngine = await startDockerd({ host: underlay.hosts[1]!, images: false });
    const dockerEngine = await startDockerd({ host: underlay.hosts[2]!, images: false });
    return { underlay, manager, berthEngine, dockerEngine };
  },
  async measure(ctx, run) {
    const berth = () => berthJoinAndRestart(ctx, run);
    const docker = () => dockerJoin(ctx);
    const order = run % 2 === 0 ? [berth, docker] : [docker, berth];
    if (BASELINE_AGENTD) {
      const baseline = () => berthJoinAndRestart(ctx, run, 'baseline', [process.execPath, BASELINE_AGENTD]);
      order.splice(run % 3, 0, baseline);
    }
    let out: Record<string, number> = {};
    for (const step of order) out = { ...out, ...(await step()) };
    const baseline: Record<string, number> = BASELINE_AGENTD
      ? {
          fresh_vs_baseline: out.berth_fresh_ready_ms! / out.baseline_fresh_ready_ms!,
          restart_vs_baseline: out.berth_restart_ready_ms! / out.baseline_restart_ready_ms!,
          fresh_cpu_vs_baseline: out.berth_fresh_cpu_to_ready_ms! / out.baseline_fresh_cpu_to_ready_ms!,
          restart_cpu_vs_baseline: out.berth_restart_cpu_to_ready_ms! / out.baseline_restart_cpu_to_ready_ms!,
        }
      : {};
    return { ...out, fresh_ratio: out.berth_fresh_ready_ms! / out.docker_ready_ms!, ...baseline };
  },
  async teardown(ctx) {
    await ctx.dockerEngine.stop();
    await ctx.berthEngine.stop();
    await ctx.manager.stop();
    await ctx.underlay.destroy();
  },
  // Issue #15: Ready within 0.6 s of process start on a fresh join, 0.5 s on a restart.
  goals: {
    berth_fresh_ready_ms: { value: (m) => m.berth_fresh_ready_ms!, target: '<= 600' },
    berth_restart_ready_ms: { value: (m) => m.berth_restart_ready_ms!, target: '<= 500' },
  },
});
