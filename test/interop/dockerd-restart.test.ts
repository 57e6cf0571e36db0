// The berth node's dockerd restarted under a running service (issue #13), with live-restore off
// and on: a real manager (whose own Docker worker runs a `peer` task on the same overlay) and a
// berth node running a 3-replica service on that overlay. After the engine comes back the tasks
// are reconciled with it and the manager has the truth: with live-restore off the containers
// died with the engine, so their tasks are reported failed and the manager replaces them; with
// live-restore on the containers kept running, and the same tasks stay RUNNING, untouched.
// Either way: no duplicate (one running container and sandbox per running task) and no orphan
// (every berth container belongs to a task agentd has), names resolve to exactly the running
// tasks — from a berth task and from the Docker task — and the gossip carries exactly them (as
// Docker's own node sees it, and as agentd counts endpoint_table entries).
import test, { type ExecutionContext } from 'ava';
import { startBerthCluster, type BerthCluster } from '../harness/cluster.js';
import { controlRequest } from '../../agent/control.js';
import type { GossipStats } from '../../netd/gossip/index.js';
import { requireRoot, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const NETWORK = 'restartnet';
const SUBNET_PREFIX = '10.129.0.';
const SERVICE = 'web';
const REPLICAS = 3;
/** PID 1 that stops at once on SIGTERM. */
const IDLE = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";
/** How long the engine stays down. */
const DOWN_MS = 5_000;

interface ManagerTask {
  id: string;
  state: string;
  desired: string;
  node: string;
  ip: string | undefined;
}

async function serviceTasks(c: BerthCluster, service: string): Promise<ManagerTask[]> {
  const d = c.manager.dockerd;
  const ids = (await d.docker(['service', 'ps', service, '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const format = '{{.ID}} {{.Status.State}} {{.DesiredState}} {{.NodeID}} {{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}';
  return (await d.docker(['inspect', '--type', 'task', '-f', format, ...ids])).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, state, desired, node, ...addrs] = l.trim().split(/\s+/);
      const ip = addrs.map((x) => x.split('/')[0]!).find((x) => x.startsWith(SUBNET_PREFIX));
      return { id: id!, state: state!, desired: desired!, node: node!, ip };
    });
}

const running = async (c: BerthCluster) => (await serviceTasks(c, SERVICE)).filter((x) => x.state === 'running' && x.desired === 'running');

interface BerthContainer {
  id: string;
  role: string;
  task: string;
  running: boolean;
  startedAt: string;
}

/** Every container berth made on the node's engine (by berth's labels), running or not. */
async function berthContainers(c: BerthCluster): Promise<BerthContainer[]> {
  const ids = (await c.engine.docker(['ps', '-aq', '--filter', 'label=io.berth.role'])).stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const out = (await c.engine.docker(['inspect', '-f', '{{.Id}} {{index .Config.Labels "io.berth.role"}} {{index .Config.Labels "io.berth.task.id"}} {{.State.Running}} {{.State.StartedAt}}', ...ids])).stdout;
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, role, task, isRunning, startedAt] = l.split(' ');
      return { id: id!, role: role!, task: task!, running: isRunning === 'true', startedAt: startedAt! };
    });
}

const addresses = (text: string) => [...text.matchAll(new RegExp(`Address:\\s+(${SUBNET_PREFIX.replaceAll('.', '\\.')}\\d+)`, 'g'))].map((m) => m[1]!).sort();

/** The answer to tasks.web from a berth task's resolver (inside one running web task), as text. */
async function berthLookupText(c: BerthCluster): Promise<string> {
  const ctr = (await c.engine.docker(['ps', '-q', '--filter', 'label=io.berth.role=task', '--filter', `label=com.docker.swarm.service.name=${SERVICE}`])).stdout.split('\n')[0]!;
  return c.engine.docker(['exec', ctr, 'nslookup', `tasks.${SERVICE}`, '127.0.0.11'], 30_000).then(
    (r) => r.stdout,
    (e: Error) => e.message,
  );
}

const berthLookup = async (c: BerthCluster): Promise<string[]> => addresses(await berthLookupText(c));

/** tasks.web as Docker's embedded DNS answers it, in the manager's own `peer` task. */
async function dockerLookup(c: BerthCluster): Promise<string[]> {
  const ctr = (await c.manager.dockerd.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=peer'])).stdout.trim();
  const out = await c.manager.dockerd.docker(['exec', ctr, 'nslookup', `tasks.${SERVICE}`, '127.0.0.11'], 30_000).then(
    (r) => r.stdout,
    (e: Error) => e.message,
  );
  return addresses(out);
}

/** The web tasks Docker's node has from the gossip (`docker network inspect -v`: endpoint_table). */
async function dockerGossip(c: BerthCluster): Promise<string[]> {
  const out = (await c.manager.dockerd.docker(['network', 'inspect', '-v', '-f', '{{json .Services}}', NETWORK])).stdout;
  const services = JSON.parse(out) as Record<string, { Tasks?: Array<{ EndpointIP: string }> } | undefined>;
  return (services[SERVICE]?.Tasks ?? []).map((x) => x.EndpointIP).sort();
}

/** endpoint_table entries agentd's gossip holds (its own and Docker's `peer`). */
async function gossipEntries(c: BerthCluster): Promise<number> {
  return ((await controlRequest(c.agentd.controlSocket, '/gossip', 10_000)) as GossipStats | null)?.networkdb.tables['endpoint_table']?.live ?? 0;
}

async function setUp(t: ExecutionContext, liveRestore: boolean): Promise<BerthCluster> {
  requireRoot('dockerd restart interop');
  const c = await startBerthCluster(t, {}, { extraArgs: liveRestore ? ['--live-restore'] : [] });
  const d = c.manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', `${SUBNET_PREFIX}0/24`, NETWORK]);
  const create = ['service', 'create', '--detach', '--no-resolve-image', '--network', NETWORK];
  await d.docker([...create, '--name', 'peer', '--constraint', 'node.role==manager', TEST_IMAGE, 'sh', '-c', IDLE]);
  await d.docker([...create, '--name', SERVICE, '--replicas', String(REPLICAS), '--constraint', `node.id==${c.status.nodeId}`, TEST_IMAGE, 'sleep', '3600']);
  await waitFor('the service and the peer running', async () => (await running(c)).length === REPLICAS && (await serviceTasks(c, 'peer')).some((x) => x.state === 'running'), 120_000, 250);
  const want = (await running(c)).map((x) => x.ip ?? '?').sort();
  await waitFor('both resolvers and Docker’s gossip have the three tasks', async () => {
    const [b, dl, g] = await Promise.all([berthLookup(c), dockerLookup(c), dockerGossip(c)]);
    return JSON.stringify([b, dl, g]) === JSON.stringify([want, want, want]);
  }, 60_000, 500);
  return c;
}

/** What must hold once the engine is back, whatever live-restore did: measured and checked. */
async function checkConverged(t: ExecutionContext, c: BerthCluster, backAt: number, entriesBefore: number): Promise<ManagerTask[]> {
  // The manager and the engine agree: each task the manager has running has its container running.
  const live = await waitFor(`${REPLICAS} tasks running on the manager, each in a running container`, async () => {
    const r = await running(c);
    const up = new Set((await berthContainers(c)).filter((x) => x.role === 'task' && x.running).map((x) => x.task));
    return r.length === REPLICAS && r.every((x) => x.node === c.status.nodeId && up.has(x.id)) ? r : undefined;
  }, 120_000, 250);
  const runningAt = Date.now();
  const want = live.map((x) => x.ip ?? '?').sort();
  // Names and the gossip follow the running tasks (Docker's DNS reads its gossip's copy).
  await waitFor('names and gossip entries of exactly the running tasks', async () => {
    const [b, dl, g, n] = await Promise.all([berthLookup(c), dockerLookup(c), dockerGossip(c), gossipEntries(c)]);
    return JSON.stringify([b, dl, g]) === JSON.stringify([want, want, want]) && n === entriesBefore;
  }, 60_000, 500).catch(async () => {
    const [b, dl, g, n] = await Promise.all([berthLookup(c), dockerLookup(c), dockerGossip(c), gossipEntries(c)]);
    t.fail(`want ${want.join(',')}: berth DNS ${b.join(',')} (${(await berthLookupText(c)).slice(0, 400)}; ps: ${(await c.engine.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout.replaceAll('\n', ' | ')}; agentd: ${JSON.stringify((await c.agentd.status()).tasks.map((x) => [x.id.slice(0, 6), x.state, x.err]))}); Docker DNS ${dl.join(',')}; Docker's gossip ${g.join(',')}; agentd's endpoint_table ${n} (before ${entriesBefore})`);
    t.log(`berth's answer: ${await berthLookupText(c)}`);
    t.log(`agentd: ${JSON.stringify((await c.agentd.status()).tasks)}\n${c.agentd.logs().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-30).join('\n')}`);
  });
  const namesAt = Date.now();
  t.log(`engine back → ${REPLICAS} tasks running on the manager in ${runningAt - backAt} ms, names and gossip right ${namesAt - backAt} ms after`);
  // Held a while: nothing stale comes back, nothing more is restarted.
  await sleep(5_000);
  const agentTasks = new Set((await c.agentd.status()).tasks.map((x) => x.id));
  const containers = await berthContainers(c);
  const liveIds = new Set(live.map((x) => x.id));
  for (const role of ['task', 'sandbox']) {
    const up = containers.filter((x) => x.role === role && x.running);
    t.deepEqual(up.map((x) => x.task).sort(), [...liveIds].sort(), `one running ${role} container per running task, no duplicate`);
  }
  const orphans = containers.filter((x) => !agentTasks.has(x.task));
  t.deepEqual(orphans.map((x) => `${x.role} ${x.task}`), [], 'no container of a task agentd does not have');
  t.deepEqual((await running(c)).map((x) => x.id).sort(), [...liveIds].sort(), 'the same tasks still running');
  t.deepEqual(await berthLookup(c), want);
  t.deepEqual(await dockerGossip(c), want);
  t.log(`containers: ${containers.filter((x) => x.running).length} running, ${containers.filter((x) => !x.running).length} exited (tasks agentd keeps)`);
  return live;
}

for (const hard of [false, true]) {
  const how = hard ? 'killed (SIGKILL) and started again' : 'restarted';
  test.serial(`dockerd ${how} with live-restore off: the tasks that died are reported failed and replaced; no duplicate, no orphan, names and gossip right`, async (t) => {
  const c = await setUp(t, false);
  const before = await running(c);
  const entriesBefore = await gossipEntries(c);
  await c.engine.restart({ downMs: DOWN_MS, hard });
  const backAt = Date.now();
  const live = await checkConverged(t, c, backAt, entriesBefore);
  // The old tasks ended on the manager as failed (their containers died), replaced by new ones.
  const all = await serviceTasks(c, SERVICE);
  for (const old of before) {
    const now = all.find((x) => x.id === old.id);
    t.truthy(now, `task ${old.id} still in the history`);
    // SIGTERM from the stopping engine (`sleep` dies of it, tini exits 143), or SIGKILL from
    // the engine that comes back without live-restore.
    t.is(now!.state, 'failed', `task ${old.id} failed`);
    t.is(now!.desired, 'shutdown');
  }
  t.false(live.some((x) => before.some((o) => o.id === x.id)), 'the running tasks are replacements');
  t.log(`${before.length} tasks lost with the engine: ${all.filter((x) => before.some((o) => o.id === x.id)).map((x) => x.state).join(', ')}`);
  });
}

test.serial('dockerd restarted with live-restore on: the same tasks keep running and stay RUNNING; no duplicate, no orphan, names and gossip right', async (t) => {
  const c = await setUp(t, true);
  const before = await running(c);
  const containersBefore = (await berthContainers(c)).filter((x) => x.running);
  const entriesBefore = await gossipEntries(c);
  await c.engine.restart({ downMs: DOWN_MS });
  const backAt = Date.now();
  const live = await checkConverged(t, c, backAt, entriesBefore);
  t.deepEqual(live.map((x) => x.id).sort(), before.map((x) => x.id).sort(), 'the same tasks running');
  t.deepEqual(
    (await berthContainers(c)).filter((x) => x.running).map((x) => `${x.id} ${x.startedAt}`).sort(),
    containersBefore.map((x) => `${x.id} ${x.startedAt}`).sort(),
    'the same containers, never restarted',
  );
  const states = (await c.agentd.status()).tasks.filter((x) => before.some((o) => o.id === x.id)).map((x) => x.state);
  t.deepEqual(states, before.map(() => 'RUNNING'), 'agentd has them RUNNING');
  // agentd still watches them: a container that dies now is reported failed and replaced.
  const victim = before[0]!;
  const ctr = (await c.engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.task.id=${victim.id}`])).stdout.trim();
  await c.engine.docker(['kill', ctr]);
  const killedAt = Date.now();
  await waitFor('the killed task failed on the manager and replaced', async () => {
    const all = await serviceTasks(c, SERVICE);
    return all.find((x) => x.id === victim.id)?.state === 'failed' && all.filter((x) => x.state === 'running').length === REPLICAS;
  }, 60_000, 250);
  t.log(`a container killed after the restart: failed and replaced in ${Date.now() - killedAt} ms`);
});
