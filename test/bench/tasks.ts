// `npm run bench -- tasks`: time from `docker service create --replicas 20` to all 20 tasks
// Running, on the berth node vs on the manager's own Docker worker, same manager, same
// image, interleaved in the same run. Goal: berth ≤ 1.0× Docker's own worker.
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { sleep } from '../../scripts/lib/exec.js';
import { defineBenchmark } from './types.js';

const REPLICAS = 20;
const POLL_MS = 50;
const RUN_TIMEOUT_MS = 120_000;

interface Ctx {
  underlay: Underlay;
  manager: SwarmManager;
  engine: PrivateDockerd;
  agentd: AgentdProcess;
  berthNode: string;
  dockerNode: string;
}

async function timeToRunning(ctx: Ctx, nodeId: string, name: string): Promise<number> {
  const d = ctx.manager.dockerd;
  const t0 = performance.now();
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--replicas', String(REPLICAS), '--constraint', `node.id==${nodeId}`, TEST_IMAGE, 'sleep', '3600']);
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const out = (await d.docker(['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
    if (out.length === REPLICAS && out.every((l) => l.startsWith('Running'))) break;
    if (Date.now() > deadline) throw new Error(`${name}: not all ${REPLICAS} Running after ${RUN_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const ms = performance.now() - t0;
  await d.docker(['service', 'rm', name]);
  // Let the node settle (containers removed) before the next measurement.
  const engine = nodeId === ctx.berthNode ? ctx.engine : d;
  for (let i = 0; i < 600; i++) {
    const left = (await engine.docker(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${name}`])).stdout.trim();
    if (left === '') break;
    await sleep(100);
  }
  return ms;
}

export default defineBenchmark<Ctx>({
  description: `service create --replicas ${REPLICAS} → all Running: berth node vs Docker's own worker (the manager's node)`,
  runs: 5,
  async setup() {
    const underlay = await createHosts(2);
    const manager = await startSwarmManager(underlay.hosts[0]!);
    const engine = await startDockerd({ host: underlay.hosts[1]! });
    const agentd = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, extraArgs: ['--log-level', 'warn'] });
    const st = await waitConnected(agentd);
    return { underlay, manager, engine, agentd, berthNode: st.nodeId, dockerNode: manager.nodeId };
  },
  async measure(ctx, run) {
    // Alternate which goes first so drift on a noisy machine hits both alike.
    const order = run % 2 === 0 ? (['berth', 'docker'] as const) : (['docker', 'berth'] as const);
    const out: Record<string, number> = {};
    for (const who of order) {
      out[`${who}_ms`] = await timeToRunning(ctx, who === 'berth' ? ctx.berthNode : ctx.dockerNode, `bench-${who}-${run}`);
    }
    out.ratio = out.berth_ms! / out.docker_ms!;
    return out;
  },
  async teardown(ctx) {
    await ctx.agentd.destroy();
    await ctx.engine.stop();
    await ctx.manager.stop();
    await ctx.underlay.destroy();
  },
  goals: {
    berth_vs_docker: { value: (m) => m.berth_ms! / m.docker_ms!, target: '<= 1.0' },
  },
});
