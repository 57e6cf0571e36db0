// No stale names after a failed rolling update (issue #12): a real manager and two berth nodes,
// a 4-replica service with a healthcheck spread 2 + 2 over them on one overlay, a client task on
// each node. The service is updated to a command that exits at once; the update fails and rolls
// back. Then, 5 s and 15 s after the rollback (completed, and the 4 tasks running again), each
// node's client resolves tasks.<svc> to exactly the 4 running tasks, and each node's gossip holds
// as many endpoint_table entries as before the update (as many tasks; the count also holds
// entries that are not this service's): a failed task's entry must be gone too, though with a
// healthcheck it is published disabled (never in the answers), so the answers alone cannot see
// it. Then one node is drained: once its tasks have moved, the other node answers exactly the
// running tasks and holds the entries of before less the drained node's client.
// The root cause: a task whose container exited (or failed to start) was never detached, so its
// entries stayed in the gossip for as long as the manager kept the task in its history.
import test from 'ava';
import { controlRequest } from '../../agent/control.js';
import type { GossipStats } from '../../netd/gossip/index.js';
import { createHosts } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';

const NETWORK = 'stalenet';
const SUBNET_PREFIX = '10.128.0.';
const SERVICE = 'web';
const REPLICAS = 4;
/** PID 1 that stops at once on SIGTERM (a plain sleep ignores it: 10 s per stop). */
const IDLE = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";
const SERVE = `touch /tmp/ok; ${IDLE}`;
const HEALTH = ['--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '1'];
/** When the answers are checked, after the rollback completed. */
const CHECKS_AFTER_ROLLBACK_MS = [5_000, 15_000];
const AFTER_DRAIN_MS = 5_000;

interface BerthNode {
  engine: PrivateDockerd;
  agent: AgentdProcess;
  id: string;
  client: string;
}

test('after a failed update rolls back, and after a drain, every node resolves tasks.<svc> to exactly the running tasks', async (t) => {
  const underlay = await createHosts(3);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const nodes: BerthNode[] = [];
  for (const host of [underlay.hosts[1]!, underlay.hosts[2]!]) {
    const engine = await startDockerd({ host });
    t.teardown(() => engine.stop());
    const agent = await startAgentd({ host, dockerd: engine, manager: manager.address, joinToken: manager.workerToken });
    const id = (await waitConnected(agent)).nodeId;
    t.teardown(async () => {
      await agent.destroy();
      await new TaskDirs().removeOwnedBy(id);
    });
    nodes.push({ engine, agent, id, client: '' });
  }
  const [a, b] = nodes as [BerthNode, BerthNode];
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', `${SUBNET_PREFIX}0/24`, NETWORK]);
  const create = ['service', 'create', '--detach', '--no-resolve-image', '--network', NETWORK];
  for (const [i, n] of nodes.entries()) await d.docker([...create, '--name', `client${i}`, '--constraint', `node.id==${n.id}`, TEST_IMAGE, 'sh', '-c', IDLE]);
  // The spread strategy puts 2 + 2 on the two workers (the manager is kept out).
  await d.docker([...create, '--name', SERVICE, '--replicas', String(REPLICAS), '--constraint', 'node.role==worker', ...HEALTH, TEST_IMAGE, 'sh', '-c', SERVE]);

  /** The service's tasks as the manager sees them: state, node and overlay address. */
  const serviceTasks = async () => {
    const ids = (await d.docker(['service', 'ps', SERVICE, '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    const format = `{{.ID}} {{.Status.State}} {{.DesiredState}} {{.NodeID}} {{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}`;
    const out = ids.length === 0 ? '' : (await d.docker(['inspect', '--type', 'task', '-f', format, ...ids])).stdout;
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, state, desired, node, ...addrs] = l.trim().split(/\s+/);
        const ip = addrs.map((x) => x.split('/')[0]!).find((x) => x.startsWith(SUBNET_PREFIX));
        return { id: id!, state: state!, desired: desired!, node: node!, ip };
      });
  };
  const running = async () => (await serviceTasks()).filter((x) => x.state === 'running' && x.desired === 'running');
  const addressesOf = (tasks: Array<{ ip: string | undefined }>) => tasks.map((x) => x.ip ?? '?').sort();

  await waitFor(
    'the service and both clients running',
    async () => {
      const out = (await d.docker(['service', 'ps', SERVICE, 'client0', 'client1', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === REPLICAS + 2 && out.every((l) => l.startsWith('Running'));
    },
    120_000,
    500,
  );
  const initial = await running();
  t.deepEqual(
    nodes.map((n) => initial.filter((x) => x.node === n.id).length),
    [2, 2],
    'two replicas on each berth node',
  );
  for (const [i, n] of nodes.entries()) {
    n.client = (await n.engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=client${i}`, '--filter', 'label=io.berth.role=task'])).stdout.trim();
  }

  const lookup = async (n: BerthNode): Promise<string[]> => {
    const out = await n.engine.docker(['exec', n.client, 'nslookup', `tasks.${SERVICE}`, '127.0.0.11'], 30_000).then(
      (r) => r.stdout,
      (e: Error) => e.message,
    );
    return [...out.matchAll(new RegExp(`Address:\\s+(${SUBNET_PREFIX.replaceAll('.', '\\.')}\\d+)`, 'g'))].map((m) => m[1]!).sort();
  };
  /** endpoint_table entries this node's gossip holds (its own and the other nodes'). */
  const gossipEntries = async (n: BerthNode) => ((await controlRequest(n.agent.controlSocket, '/gossip', 10_000)) as GossipStats | null)?.networkdb.tables['endpoint_table']?.live ?? 0;

  /** What a node's agent holds: its tasks not running, and its sandboxes / remote endpoints per
   *  overlay (the manager's ingress endpoint counts on ingress). */
  const diagnose = async (n: BerthNode) => {
    const tasks = (await controlRequest(n.agent.controlSocket, '/tasks', 10_000)) as Array<{ id: string; service: string; state: string; desired: string; message?: string }>;
    const nets = (await controlRequest(n.agent.controlSocket, '/networks', 10_000)) as { overlay: { networks: Array<{ id: string; sandboxes: number; remoteEndpoints: number }> } };
    const done = tasks.filter((x) => x.state !== 'RUNNING').map((x) => `${x.service} ${x.id.slice(0, 10)} ${x.state}/${x.desired} (${x.message ?? ''})`);
    return `tasks not running: ${done.join('; ')}; overlays (sandboxes/remote endpoints): ${nets.overlay.networks.map((x) => `${x.id.slice(0, 10)} ${x.sandboxes}/${x.remoteEndpoints}`).join(', ')}`;
  };

  await waitFor('both nodes answer the 4 tasks', async () => (await lookup(a)).length === REPLICAS && (await lookup(b)).length === REPLICAS, 60_000, 500);
  await sleep(2_000);
  const baseline = await Promise.all(nodes.map(gossipEntries));
  t.log(`endpoint_table entries before the update: ${JSON.stringify(baseline)}`);

  // The update to a command that exits at once fails on its first task and rolls back.
  const updateStarted = Date.now();
  await d.docker(['service', 'update', '--detach', '--args', 'false', '--update-parallelism', '1', '--update-monitor', '3s', '--update-failure-action', 'rollback', '--rollback-monitor', '2s', SERVICE]);
  const updateState = async () => (await d.docker(['service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', SERVICE])).stdout.trim();
  await waitFor('the rollback completed', async () => (await updateState()) === 'rollback_completed', 180_000, 500);
  const completedAt = Date.now();
  // The failed slot is not the rollback's to fill: its task is replaced by the restart policy
  // (after the restart delay, 5 s) with the rolled-back spec, possibly after rollback_completed.
  await waitFor(`${REPLICAS} tasks running again`, async () => (await running()).length === REPLICAS, 60_000, 250);
  const rolledBackAt = Date.now();
  const failed = (await serviceTasks()).filter((x) => x.state === 'failed' || x.state === 'rejected');
  t.log(`update → rollback_completed in ${completedAt - updateStarted} ms, ${REPLICAS} running ${rolledBackAt - completedAt} ms later; failed tasks: ${failed.map((x) => `${x.id.slice(0, 8)}@${x.ip ?? '-'}`).join(', ')}`);
  t.true(failed.length >= 1, 'the update had a task fail');

  for (const at of CHECKS_AFTER_ROLLBACK_MS) {
    await sleep(rolledBackAt + at - Date.now());
    const live = await running();
    t.is(live.length, REPLICAS, `${at / 1000} s after the rollback: ${REPLICAS} tasks running`);
    const want = addressesOf(live);
    const stale = failed.map((x) => x.ip).filter((ip): ip is string => ip !== undefined && !want.includes(ip));
    for (const [i, n] of nodes.entries()) {
      const got = await lookup(n);
      t.deepEqual(got, want, `${at / 1000} s after the rollback, node ${i} answers exactly the running tasks`);
      t.false(
        got.some((ip) => stale.includes(ip)),
        `no failed task's address on node ${i}`,
      );
      // As many as before the update (as many tasks); nothing of a failed task.
      const entries = await gossipEntries(n);
      if (entries !== baseline[i]) t.log(`node ${i}: ${await diagnose(n)}`);
      t.is(entries, baseline[i]!, `${at / 1000} s after the rollback, node ${i}'s gossip holds as many entries as before the update`);
    }
  }

  // Drain b: its replicas move to a, its client has nowhere to go.
  await d.docker(['node', 'update', '--availability', 'drain', b.id]);
  const drainedAt = Date.now();
  await waitFor(
    'the replicas moved to the other node',
    async () => {
      const live = await running();
      return live.length === REPLICAS && live.every((x) => x.node === a.id);
    },
    120_000,
    500,
  );
  t.log(`drain → ${REPLICAS} running on the other node in ${Date.now() - drainedAt} ms`);
  await sleep(AFTER_DRAIN_MS);
  const want = addressesOf(await running());
  t.deepEqual(await lookup(a), want, 'after the drain, the remaining node answers exactly the running tasks');
  const after = await gossipEntries(a);
  if (after !== baseline[0]! - 1) t.log(`node 0: ${await diagnose(a)}`);
  t.is(after, baseline[0]! - 1, "after the drain, the remaining node's gossip holds the entries of before less the drained node's client");
});
