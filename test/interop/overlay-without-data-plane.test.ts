// A node without a data plane says so, and an overlay task that reaches it anyway fails clearly
// (issue #13, item 8), with a real manager. A berth node runs a task pinned to it on an overlay;
// its agentd is restarted with --no-data-plane. Then: the node's description on the manager
// (docker node inspect) lists no overlay driver; the resumed task — placed while the node could
// plumb it — is stopped and fails with E_NETWORK_UNAVAILABLE's message naming the network and why
// (docker service ps); and the manager, which places a task only on a node listing its networks'
// drivers, keeps the replacement pending ("missing plugin") instead of sending it here. A data
// plane that fails to open (an impossible --netns-dir) is described the same way.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import type { AgentStatus } from '../../agent/agent.js';

const NETWORK = 'planeoff';
const SERVICE = 'pinned';
/** PID 1 that stops at once on SIGTERM. */
const IDLE = "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";
/** How long the replacement is watched staying unplaced. */
const PENDING_WATCH_MS = 10_000;

test('with the data plane off: no overlay in the node description, a resumed overlay task fails naming its network, its replacement is not placed here', async (t) => {
  const cluster = await startBerthCluster(t);
  const { manager, engine, underlay } = cluster;
  const d = manager.dockerd;
  const nodeId = cluster.status.nodeId;
  const networkPlugins = async () => {
    const out = (await d.docker(['node', 'inspect', '-f', '{{json .Description.Engine.Plugins}}', nodeId])).stdout;
    return (JSON.parse(out) as Array<{ Type: string; Name: string }>).filter((p) => p.Type === 'Network').map((p) => p.Name).sort();
  };
  t.deepEqual(await networkPlugins(), ['bridge', 'host', 'null', 'overlay'], 'with the data plane up, the node lists overlay');

  await d.docker(['network', 'create', '--driver', 'overlay', NETWORK]);
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', SERVICE, '--network', NETWORK, '--constraint', `node.id==${nodeId}`, TEST_IMAGE, 'sh', '-c', IDLE]);
  const tasks = async () => {
    const format = '{{.ID}}|{{.Status.State}}|{{.DesiredState}}|{{.NodeID}}|{{.Status.Err}}';
    const ids = (await d.docker(['service', 'ps', SERVICE, '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    const out = ids.length === 0 ? '' : (await d.docker(['inspect', '--type', 'task', '-f', format, ...ids])).stdout;
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, state, desired, node, err] = l.split('|');
        return { id: id!, state: state!, desired: desired!, node: node!, err: err ?? '' };
      });
  };
  const first = await waitFor('the task running on the berth node', async () => (await tasks()).find((x) => x.state === 'running'), 120_000, 500);

  await cluster.agentd.kill('SIGTERM');
  const restarted = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, stateDir: cluster.agentd.stateDir, extraArgs: ['--no-data-plane'] });
  t.teardown(() => restarted.destroy());
  const status: AgentStatus = await waitConnected(restarted, 60_000);
  t.is(status.dataPlane, 'off');

  await waitFor('the manager to see the node without the overlay driver', async () => !(await networkPlugins()).includes('overlay'), 30_000, 250);
  t.deepEqual(await networkPlugins(), ['bridge', 'host', 'null'], 'the node lists the engine drivers and no overlay');

  const failed = await waitFor('the resumed task to fail', async () => (await tasks()).find((x) => x.id === first.id && x.state === 'failed'), 60_000, 250);
  t.regex(failed.err, new RegExp(`overlay network "${NETWORK}" \\([a-z0-9]+\\): this node cannot plumb overlays: agentd's data plane is off`), 'the task error names the network and why');
  const container = (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.task.id=${first.id}`])).stdout.trim();
  t.is(container, '', 'its container is stopped, not left running without its networks');

  // The replacement: never placed on a node that does not list the overlay driver.
  const replacement = await waitFor('a replacement task', async () => (await tasks()).find((x) => x.id !== first.id && x.desired === 'running'), 60_000, 250);
  const watchUntil = Date.now() + PENDING_WATCH_MS;
  while (Date.now() < watchUntil) {
    const now = (await tasks()).find((x) => x.id === replacement.id);
    t.true(now !== undefined && now.state === 'pending' && now.node === '', `the replacement stays unplaced (${now?.state} on ${now?.node || 'no node'})`);
    if (now?.state !== 'pending') break;
    await sleep(1_000);
  }
  const pending = (await tasks()).find((x) => x.id === replacement.id);
  t.log(`replacement ${replacement.id.slice(0, 10)}: ${pending?.state}, "${pending?.err}"`);
  t.regex(pending?.err ?? '', /no suitable node.*plugin/, "the manager's scheduler says why: the node lacks the overlay driver");
  const agentTasks = (await restarted.status()).tasks.filter((x) => x.id === replacement.id);
  t.deepEqual(agentTasks, [], 'the node never received it');
});

test('a data plane that fails to open: agentd says failed, the node lists no overlay driver, an overlay task pinned here is never placed', async (t) => {
  // A netns dir that cannot be made (its parent is a device, not a directory): opening fails.
  const cluster = await startBerthCluster(t, { extraArgs: ['--netns-dir', '/dev/null/berth-netns'] });
  const d = cluster.manager.dockerd;
  const nodeId = cluster.status.nodeId;
  t.is(cluster.status.dataPlane, 'failed');
  const plugins = JSON.parse((await d.docker(['node', 'inspect', '-f', '{{json .Description.Engine.Plugins}}', nodeId])).stdout) as Array<{ Type: string; Name: string }>;
  t.deepEqual(plugins.filter((p) => p.Type === 'Network').map((p) => p.Name).sort(), ['bridge', 'host', 'null']);
  t.regex(cluster.agentd.logs(), /data plane off: opening it failed/);

  await d.docker(['network', 'create', '--driver', 'overlay', NETWORK]);
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', SERVICE, '--network', NETWORK, '--constraint', `node.id==${nodeId}`, TEST_IMAGE, 'sh', '-c', IDLE]);
  let last = '';
  const pending = await waitFor(
    'the task left pending by the scheduler',
    async () => {
      const out = (await d.docker(['service', 'ps', SERVICE, '--no-trunc', '--format', '{{.CurrentState}}|{{.Error}}|{{.Node}}'])).stdout.trim();
      last = out;
      return /^Pending.*\|.*no suitable node \(missing plugin/.test(out) ? out : undefined;
    },
    30_000,
    250,
  ).catch((err: Error) => t.fail(`${err.message}; last: ${last}`));
  t.log(pending);
  await sleep(PENDING_WATCH_MS);
  t.deepEqual((await cluster.agentd.status()).tasks, [], 'the node never received it');
});
