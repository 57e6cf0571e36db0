// `npm run bench -- engine-netmode`: what a task's network mode costs the engine. 20 containers
// created and started at once straight on a private dockerd (in a test host's namespace, with
// its default bridge), no agent in between, for each way a task without networks could get
// its network namespace:
//   bridge        — what Docker's worker and berth give such a task today: the engine makes a
//                   netns and joins it to docker0 (veth, IPAM, the IPv6 sysctls).
//   none          — the engine makes a netns with only lo; a node agent would have to plumb
//                   the rest itself, after the start (the Docker API has no step between the
//                   engine's netns and the task's process, so the process would run unplumbed
//                   for a while).
//   disabled      — none made without the engine's networking (Config.NetworkDisabled): runc
//                   makes the netns, libnetwork nothing (no sandbox, no setkey hook).
//   shared_netns  — every container joins one running container's netns (`container:`):
//                   no netns made per start. Not a design (tasks would share ports); the floor.
//   sandbox_each  — a pause container per task (NetworkMode none), the task joining it
//                   (`container:`): how berth made overlay tasks' sandboxes until 2026-12-07.
//   sandbox_disabled_each — the same with the pause container made without networking: how
//                   berth makes them now. 3 runs, 2026-12-07: disabled 0.40x bridge, sandbox_each
//                   1.30x, sandbox_disabled_each 0.75x.
// Modes alternate order per run; each figure is the burst's wall time, `*_vs_bridge` the per-run
// ratio. This answers whether plumbing the default network in berth could make a start
// cheaper, not how berth does; `tasks` measures that.
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { PAUSE_IMAGE, TEST_IMAGE } from '../../scripts/lib/images.js';
import { defineBenchmark } from './types.js';

const BURST = 20;
const SHARED_SANDBOX = 'netmode-shared';

interface Ctx {
  underlay: Underlay;
  engine: PrivateDockerd;
}

type Mode = 'bridge' | 'none' | 'disabled' | 'shared_netns' | 'sandbox_each' | 'sandbox_disabled_each';
const MODES: readonly Mode[] = ['bridge', 'none', 'disabled', 'shared_netns', 'sandbox_each', 'sandbox_disabled_each'];

async function startOne(ctx: Ctx, mode: Mode, name: string): Promise<string[]> {
  const d = ctx.engine.client;
  const made: string[] = [];
  let networkMode: string = mode === 'disabled' ? 'none' : mode;
  if (mode === 'shared_netns') networkMode = `container:${SHARED_SANDBOX}`;
  if (mode === 'sandbox_each' || mode === 'sandbox_disabled_each') {
    const disabled = mode === 'sandbox_disabled_each';
    const sandbox = await d.createContainer({ Image: PAUSE_IMAGE, name: `${name}-sb`, NetworkDisabled: disabled, HostConfig: { NetworkMode: 'none' } });
    made.push(sandbox.id);
    await sandbox.start();
    networkMode = `container:${sandbox.id}`;
  }
  const task = await d.createContainer({ Image: TEST_IMAGE, name, Cmd: ['sleep', '3600'], NetworkDisabled: mode === 'disabled', HostConfig: { NetworkMode: networkMode } });
  made.push(task.id);
  await task.start();
  return made;
}

async function burst(ctx: Ctx, mode: Mode, run: number): Promise<number> {
  const t0 = performance.now();
  const made = await Promise.all(Array.from({ length: BURST }, (_, i) => startOne(ctx, mode, `netmode-${run}-${mode.replace('_', '-')}-${i}`)));
  const ms = performance.now() - t0;
  // Task containers before their sandboxes: a sandbox in use cannot go first.
  for (const col of [1, 0]) await Promise.all(made.map((ids) => ids[col]).filter((id) => id !== undefined).map((id) => ctx.engine.client.getContainer(id).remove({ force: true })));
  return ms;
}

export default defineBenchmark<Ctx>({
  description: `${BURST} concurrent create+start straight on dockerd per network mode: bridge, none, none without networking, one shared netns, a pause sandbox per task (with and without networking)`,
  runs: 5,
  async setup() {
    const underlay = await createHosts(1);
    const engine = await startDockerd({ host: underlay.hosts[0]! });
    const shared = await engine.client.createContainer({ Image: PAUSE_IMAGE, name: SHARED_SANDBOX, HostConfig: { NetworkMode: 'none' } });
    await shared.start();
    return { underlay, engine };
  },
  async measure(ctx, run) {
    const order = run % 2 === 0 ? MODES : [...MODES].reverse();
    const out: Record<string, number> = {};
    for (const mode of order) out[`${mode}_ms`] = await burst(ctx, mode, run);
    for (const mode of MODES) if (mode !== 'bridge') out[`${mode}_vs_bridge`] = out[`${mode}_ms`]! / out.bridge_ms!;
    return out;
  },
  async teardown(ctx) {
    await ctx.engine.stop();
    await ctx.underlay.destroy();
  },
  goals: {},
});
