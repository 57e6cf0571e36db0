// What operators do to services, done on a real Swarm manager to tasks run by agentd: scale up
// and down, a rolling `update --image` (parallelism 1, a delay), `--mode global`, and kill -9
// of agentd in the middle of each lifecycle step, after which the berth node's dockerd holds
// exactly the containers the manager expects — no duplicate, no orphan, no over-count.
import test from 'ava';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';

/** A second tag of the test image, for `update --image`. */
const IMAGE_V2 = 'local/busybox:v2';
const KILL_RUNS = 20;

let underlay: Underlay;
let manager: SwarmManager;
let engine: PrivateDockerd;
let agent: AgentdProcess;
let nodeId: string;
let stateDir: string;

test.before(async () => {
  underlay = await createHosts(2);
  manager = await startSwarmManager(underlay.hosts[0]!);
  engine = await startDockerd({ host: underlay.hosts[1]! });
  await engine.docker(['tag', TEST_IMAGE, IMAGE_V2]);
  agent = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken });
  nodeId = (await waitConnected(agent)).nodeId;
  stateDir = agent.stateDir;
  nodeHostnames.add((await swarm(['node', 'inspect', nodeId, '--format', '{{.Description.Hostname}}'])).stdout.trim());
});

test.after.always(async () => {
  // The first agentd owns the state dir; later ones (restarts) reuse it.
  await current?.destroy().catch(() => undefined);
  await agent?.destroy().catch(() => undefined);
  if (nodeId) await new TaskDirs().removeOwnedBy(nodeId);
  await engine?.stop().catch(() => undefined);
  await manager?.stop().catch(() => undefined);
  await underlay?.destroy().catch(() => undefined);
});

/** The agentd running now (a restart replaces it). */
let current: AgentdProcess | undefined;

const swarm = (args: string[]) => manager.dockerd.docker(args, 30_000);

interface ManagerTask {
  id: string;
  node: string;
  desired: string;
  current: string;
  image: string;
}

async function managerTasks(service: string): Promise<ManagerTask[]> {
  const out = (await swarm(['service', 'ps', service, '--no-trunc', '--format', '{{.ID}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Image}}'])).stdout.trim();
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, node, desired, cur, image] = l.split('|') as [string, string, string, string, string];
      return { id, node, desired, current: cur, image };
    });
}

interface NodeContainer {
  name: string;
  taskId: string;
  service: string;
  running: boolean;
  image: string;
}

async function nodeContainers(): Promise<NodeContainer[]> {
  const out = (await engine.docker(['ps', '-a', '--filter', 'label=com.docker.swarm.task.id', '--format', '{{.Names}}|{{.Label "com.docker.swarm.task.id"}}|{{.Label "com.docker.swarm.service.name"}}|{{.State}}|{{.Image}}'])).stdout.trim();
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, taskId, service, state, image] = l.split('|') as [string, string, string, string, string];
      return { name, taskId, service, running: state === 'running', image };
    });
}

async function createService(name: string, flags: string[]): Promise<void> {
  await swarm(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--stop-grace-period', '2s', ...flags, TEST_IMAGE, 'sleep', '3600']);
}

/**
 * The node agrees with the manager: every task the manager wants running on this node runs in
 * exactly one running container; no other container runs; each task has at most one
 * container; every container belongs to a task the manager still lists for this node.
 * Returns a list of disagreements (empty when converged).
 */
async function disagreements(services: string[]): Promise<string[]> {
  const problems: string[] = [];
  const containers = await nodeContainers();
  const known = new Map<string, ManagerTask>();
  for (const s of services) {
    const listed = await managerTasks(s).catch(() => []);
    for (const mt of listed) if (mt.node === nodeId || nodeHostnames.has(mt.node)) known.set(mt.id, mt);
  }
  const byTask = new Map<string, NodeContainer[]>();
  for (const c of containers) byTask.set(c.taskId, [...(byTask.get(c.taskId) ?? []), c]);
  for (const [taskId, cs] of byTask) {
    if (cs.length > 1) problems.push(`task ${taskId} has ${cs.length} containers: ${cs.map((c) => c.name).join(', ')}`);
    const mt = known.get(taskId);
    if (!mt) problems.push(`container ${cs[0]!.name} belongs to no task the manager lists for this node`);
    else if (cs.some((c) => c.running) && mt.desired !== 'Running') problems.push(`${cs[0]!.name} runs but its task's desired state is ${mt.desired}`);
  }
  for (const mt of known.values()) {
    if (mt.desired !== 'Running') continue;
    if (!mt.current.startsWith('Running')) problems.push(`task ${mt.id} is ${mt.current}, desired Running`);
    else if (!(byTask.get(mt.id) ?? []).some((c) => c.running)) problems.push(`task ${mt.id} is Running but has no running container`);
  }
  return problems;
}

async function converged(services: string[], what: string, timeoutMs = 60_000): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(
      what,
      async () => {
        last = await disagreements(services);
        return last.length === 0;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstill disagreeing:\n  ${last.join('\n  ')}`, { cause: err });
  }
}

/** `docker service ps` names nodes by hostname; the berth node's is its host's name. */
const nodeHostnames = new Set<string>();

async function replicas(service: string): Promise<string> {
  return (await swarm(['service', 'ls', '--filter', `name=${service}`, '--format', '{{.Replicas}}'])).stdout.trim();
}

async function removeService(name: string): Promise<void> {
  await swarm(['service', 'rm', name]);
  await waitFor(`${name}'s containers removed`, async () => (await nodeContainers()).every((c) => c.service !== name), 60_000);
}

test.serial('scale up and down: the node runs exactly the replicas asked for', async (t) => {
  await createService('scaler', ['--replicas', '1', '--constraint', `node.id==${nodeId}`]);
  await converged(['scaler'], 'one replica');
  await swarm(['service', 'scale', '--detach', 'scaler=4']);
  await waitFor('4/4 replicas', async () => (await replicas('scaler')) === '4/4', 60_000);
  await converged(['scaler'], 'four replicas');
  t.is((await nodeContainers()).filter((c) => c.service === 'scaler' && c.running).length, 4);
  await swarm(['service', 'scale', '--detach', 'scaler=2']);
  await waitFor('2/2 replicas', async () => (await replicas('scaler')) === '2/2', 60_000);
  await converged(['scaler'], 'two replicas');
  t.is((await nodeContainers()).filter((c) => c.service === 'scaler' && c.running).length, 2);
  await removeService('scaler');
});

test.serial('update --image rolls one task at a time with the delay, never below replicas − 1', async (t) => {
  const DELAY_MS = 2_000;
  await createService('roller', ['--replicas', '3', '--constraint', `node.id==${nodeId}`, '--update-parallelism', '1', '--update-delay', `${DELAY_MS / 1000}s`]);
  await waitFor('3/3 replicas', async () => (await replicas('roller')) === '3/3', 60_000);

  // Watch the node's engine while the update runs: every task container start and death.
  const since = (Date.now() / 1000).toFixed(3);
  const oldIds = new Set((await managerTasks('roller')).map((m) => m.id));
  await swarm(['service', 'update', '--detach', '--no-resolve-image', '--image', IMAGE_V2, 'roller']);
  await waitFor('the update completed', async () => (await swarm(['service', 'inspect', 'roller', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}'])).stdout.trim() === 'completed', 90_000);
  await converged(['roller'], 'the updated service');
  const until = (Date.now() / 1000).toFixed(3);
  const events = (await engine.docker(['events', '--since', since, '--until', until, '--filter', 'type=container', '--filter', 'label=com.docker.swarm.service.name=roller', '--format', '{{.TimeNano}}|{{.Action}}|{{.Actor.Attributes.image}}']))
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ns, action, image] = l.split('|') as [string, string, string];
      return { ms: Number(BigInt(ns) / 1_000_000n), action, image };
    });

  // All three run the new image, each a new task; the old ones are stopped.
  const running = (await nodeContainers()).filter((c) => c.service === 'roller' && c.running);
  t.is(running.length, 3);
  t.true(running.every((c) => c.image === IMAGE_V2), running.map((c) => c.image).join());
  t.true(running.every((c) => !oldIds.has(c.taskId)));

  // One at a time: the running count never drops below two, and the new tasks start at least
  // the update delay apart.
  let count = 3;
  let min = 3;
  for (const e of events) {
    if (e.action === 'start') count++;
    if (e.action === 'die') count--;
    min = Math.min(min, count);
  }
  t.is(min, 2, `running task containers during the update: min ${min}`);
  const starts = events.filter((e) => e.action === 'start' && e.image === IMAGE_V2).map((e) => e.ms);
  t.is(starts.length, 3);
  for (let i = 1; i < starts.length; i++) t.true(starts[i]! - starts[i - 1]! >= DELAY_MS - 100, `starts ${starts[i]! - starts[i - 1]!} ms apart`);
  await removeService('roller');
});

test.serial('--mode global puts one task on the berth node, named <service>.<node id>.<task id>', async (t) => {
  await createService('everywhere', ['--mode', 'global']);
  await waitFor('2/2 (one per node)', async () => (await replicas('everywhere')) === '2/2', 60_000);
  await converged(['everywhere'], 'the global service');
  const mine = (await nodeContainers()).filter((c) => c.service === 'everywhere');
  t.is(mine.length, 1);
  t.regex(mine[0]!.name, new RegExp(`^everywhere\\.${nodeId}\\.[a-z0-9]{25}$`));
  const nodes = (await managerTasks('everywhere')).filter((m) => m.desired === 'Running').map((m) => m.node);
  t.is(nodes.length, 2, 'the manager node runs its own');
  await removeService('everywhere');
  // Drained, the berth node gives its global task up; active again, it gets one back.
  await createService('everywhere2', ['--mode', 'global']);
  await converged(['everywhere2'], 'the global service');
  await swarm(['node', 'update', '--availability', 'drain', nodeId]);
  await waitFor('no task container of everywhere2 running on the drained node', async () => !(await nodeContainers()).some((c) => c.service === 'everywhere2' && c.running), 60_000);
  await swarm(['node', 'update', '--availability', 'active', nodeId]);
  await waitFor('one running again', async () => (await nodeContainers()).filter((c) => c.service === 'everywhere2' && c.running).length === 1, 60_000);
  await converged(['everywhere2'], 'the global service after drain and activate');
  await removeService('everywhere2');
});

type Step = { name: string; act: () => Promise<void>; services: string[] };

test.serial(`kill -9 agentd in the middle of each lifecycle step (${KILL_RUNS} runs): afterwards the node holds exactly the expected containers`, async (t) => {
  const svc = 'crashy';
  let image = TEST_IMAGE;
  let exists = false;
  let replicasWanted = 2;
  // Each step drives tasks through different states on the node: create (preparing, starting),
  // scale up (starting), update (shutdown of old, prepare/start of new), scale down (shutdown,
  // removal), rm (shutdown and removal of everything).
  const steps: Step[] = [
    {
      name: 'create',
      services: [svc],
      act: async () => {
        replicasWanted = 2;
        image = TEST_IMAGE;
        await createService(svc, ['--replicas', '2', '--constraint', `node.id==${nodeId}`, '--update-parallelism', '2']);
        exists = true;
      },
    },
    { name: 'scale up', services: [svc], act: async () => void (await swarm(['service', 'scale', '--detach', `${svc}=${(replicasWanted = 4)}`])) },
    {
      name: 'update --image',
      services: [svc],
      act: async () => {
        image = image === TEST_IMAGE ? IMAGE_V2 : TEST_IMAGE;
        await swarm(['service', 'update', '--detach', '--no-resolve-image', '--image', image, svc]);
      },
    },
    { name: 'scale down', services: [svc], act: async () => void (await swarm(['service', 'scale', '--detach', `${svc}=${(replicasWanted = 1)}`])) },
    {
      name: 'rm',
      services: [svc],
      act: async () => {
        await swarm(['service', 'rm', svc]);
        exists = false;
      },
    },
  ];
  current = agent;
  const ran: string[] = [];
  for (let run = 0; run < KILL_RUNS; run++) {
    const step = steps[run % steps.length]!;
    if (step.name !== 'create' && !exists) continue;
    const killAfterMs = Math.floor(Math.random() * 1_500);
    await step.act();
    await sleep(killAfterMs);
    await current.kill('SIGKILL');
    // The manager goes on without the node for a moment, as after a real crash.
    await sleep(Math.floor(Math.random() * 500));
    const next = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, stateDir });
    if (current !== agent) await current.destroy();
    current = next;
    await waitConnected(current);
    await converged(step.services, `run ${run} (${step.name}, killed after ${killAfterMs} ms): node and manager agree`);
    if (exists) {
      // The manager counts a task as running until its shutdown is reported, so in the middle of
      // an update (stop-first) it can say N/N while the node runs fewer: wait for both to agree;
      // an over- or under-count that does not settle fails below.
      let live: NodeContainer[] = [];
      let shown = '';
      await waitFor(
        `run ${run}: ${replicasWanted}/${replicasWanted} and as many running containers`,
        async () => {
          shown = await replicas(svc);
          live = (await nodeContainers()).filter((c) => c.service === svc && c.running);
          return shown === `${replicasWanted}/${replicasWanted}` && live.length === replicasWanted;
        },
        60_000,
      ).catch(() => undefined);
      t.is(shown, `${replicasWanted}/${replicasWanted}`, `run ${run} (${step.name}): replicas`);
      t.is(live.length, replicasWanted, `run ${run} (${step.name}): running containers`);
    } else {
      t.deepEqual(
        (await nodeContainers()).filter((c) => c.service === svc).map((c) => c.name),
        [],
        `run ${run} (rm): every container of the removed service is gone`,
      );
    }
    ran.push(`${step.name}@${killAfterMs}ms`);
  }
  t.log(ran.join(', '));
  t.is(ran.length, KILL_RUNS);
  if (exists) await removeService(svc);
});
