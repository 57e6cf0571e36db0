// `npm run bench -- join`: a fresh node joining a real manager until it is Ready —
// agentd (fresh state, worker token) vs Docker's own `docker swarm join` on a private dockerd,
// same manager, interleaved. Also agentd's own figures: join (CA fetch → certificate),
// session setup (Session call → first message), heartbeat RTT.
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { sleep } from '../../scripts/lib/exec.js';
import { defineBenchmark } from './types.js';

const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 20;

interface Ctx {
  underlay: Underlay;
  manager: SwarmManager;
  berthEngine: PrivateDockerd;
  dockerEngine: PrivateDockerd;
}

async function untilReady(manager: SwarmManager, hostname: string): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ls = (await manager.dockerd.docker(['node', 'ls', '--format', '{{.ID}} {{.Hostname}} {{.Status}}'])).stdout;
    const line = ls.split('\n').find((l) => l.includes(` ${hostname} Ready`));
    if (line) return line.split(' ')[0]!;
    if (Date.now() > deadline) throw new Error(`${hostname} not Ready within ${READY_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function berthJoin(ctx: Ctx, run: number): Promise<Record<string, number>> {
  const hostname = `berth-bench-${run}`;
  const t0 = performance.now();
  const a = await startAgentd({ host: ctx.underlay.hosts[1]!, dockerd: ctx.berthEngine, manager: ctx.manager.address, joinToken: ctx.manager.workerToken, hostname, logLevel: 'warn', extraArgs: ['--no-data-plane'] });
  try {
    const id = await untilReady(ctx.manager, hostname);
    const ready = performance.now() - t0;
    const st = await waitConnected(a);
    await a.kill('SIGTERM');
    await ctx.manager.dockerd.docker(['node', 'rm', '--force', id]);
    return { berth_ready_ms: ready, berth_join_ms: st.timings.joinMs ?? Number.NaN, berth_session_ms: st.timings.sessionOpenMs, berth_heartbeat_rtt_ms: st.timings.heartbeatRttMs };
  } finally {
    await a.destroy();
  }
}

async function nodeReady(manager: SwarmManager, id: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while ((await manager.dockerd.docker(['node', 'inspect', id, '--format', '{{.Status.State}}'])).stdout.trim() !== 'ready') {
    if (Date.now() > deadline) throw new Error(`node ${id} not ready within ${READY_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function dockerJoin(ctx: Ctx): Promise<Record<string, number>> {
  const t0 = performance.now();
  await ctx.dockerEngine.docker(['swarm', 'join', '--token', ctx.manager.workerToken, '--advertise-addr', ctx.underlay.hosts[2]!.address, ctx.manager.address]);
  // The engine shares the machine's hostname (namespaces do not change it): find it by id.
  const id = (await ctx.dockerEngine.docker(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  await nodeReady(ctx.manager, id);
  const ready = performance.now() - t0;
  await ctx.dockerEngine.docker(['swarm', 'leave', '--force']);
  await ctx.manager.dockerd.docker(['node', 'rm', '--force', id]);
  return { docker_ready_ms: ready };
}

export default defineBenchmark<Ctx>({
  description: 'fresh worker join → Ready on the manager: agentd vs docker swarm join',
  runs: 5,
  async setup() {
    const underlay = await createHosts(3);
    const manager = await startSwarmManager(underlay.hosts[0]!);
    const berthEngine = await startDockerd({ host: underlay.hosts[1]!, images: false });
    const dockerEngine = await startDockerd({ host: underlay.hosts[2]!, images: false });
    return { underlay, manager, berthEngine, dockerEngine };
  },
  async measure(ctx, run) {
    const berth = () => berthJoin(ctx, run);
    const docker = () => dockerJoin(ctx);
    const [first, second] = run % 2 === 0 ? [berth, docker] : [docker, berth];
    const out = { ...(await first()), ...(await second()) };
    return { ...out, ratio: out.berth_ready_ms! / out.docker_ready_ms! };
  },
  async teardown(ctx) {
    await ctx.dockerEngine.stop();
    await ctx.berthEngine.stop();
    await ctx.manager.stop();
    await ctx.underlay.destroy();
  },
  // No issue sets a goal for joining; the ratio against Docker's own worker is in the figures.
  goals: {},
});
