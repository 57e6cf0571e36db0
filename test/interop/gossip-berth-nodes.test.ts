// Two berth nodes and a real manager (3 hosts): tasks on different berth nodes reach each other
// over one overlay, the endpoints carried by the cluster's gossip. kill -9 of agentd on one
// node while 100 pings/s flow across hosts loses none: the kernel keeps forwarding, the other
// nodes keep the killed agent's endpoints until the cluster declares it dead, and by then the
// restarted agentd (a new gossip node) has announced them again.
import test from 'ava';
import { dirname, join } from 'node:path';
import { startBerthNodes, type BerthNode } from '../harness/cluster.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { run, runQuiet, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { repliesSince, startPingStream } from '../harness/ping.js';

const PING_INTERVAL_S = 0.009;
/** Pinging goes on this long after the restart: past the point the cluster declares the killed
 *  agent's gossip node dead and drops what it announced. */
const AFTER_RESTART_MS = 15_000;

test('tasks on two berth nodes reach each other; kill -9 of one agentd loses no ping', async (t) => {
  const { underlay, manager, nodes } = await startBerthNodes(t, 2);
  const [a, b] = nodes as [BerthNode, BerthNode];
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.126.0.0/24', 'crossnet']);
  for (const [name, node] of [['left', a], ['right', b]] as const) {
    await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--network', 'crossnet', '--constraint', `node.id==${node.id}`, TEST_IMAGE, 'sleep', '3600']);
  }
  await waitFor('both Running', async () => {
    const out = (await d.docker(['service', 'ps', 'left', 'right', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
    return out.length === 2 && out.every((l) => l.startsWith('Running'));
  }, 60_000);
  const taskNet = async (node: (typeof nodes)[0], svc: string) => {
    const id = (await node.engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--filter', 'label=io.berth.role=task'])).stdout.trim();
    const pid = (await node.engine.docker(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim();
    const netns = `/proc/${pid}/ns/net`;
    const ip = /inet (10\.126\.0\.\d+)\//.exec((await run('nsenter', [`--net=${netns}`, 'ip', '-o', '-4', 'addr', 'show', 'eth0'])).stdout)![1]!;
    return { netns, ip };
  };
  const left = await taskNet(a, 'left');
  const right = await taskNet(b, 'right');
  const reach = (from: string, to: string) => runQuiet('nsenter', [`--net=${from}`, 'ping', '-c', '1', '-W', '1', to]);
  await waitFor('left → right across berth nodes', () => reach(left.netns, right.ip), 45_000, 500);
  await waitFor('right → left across berth nodes', () => reach(right.netns, left.ip), 45_000, 500);

  // kill -9 agentd on node a, mid-stream; restart it on the same state and namespaces.
  const pings = startPingStream(left.netns, right.ip, PING_INTERVAL_S);
  t.teardown(() => pings.kill());
  await waitFor('pings flowing', async () => pings.received >= 50, 10_000, 20);
  await a.agentd.kill('SIGKILL');
  const killedAt = Date.now();
  const restarted = await startAgentd({
    host: underlay.hosts[1]!,
    dockerd: a.engine,
    manager: manager.address,
    stateDir: a.agentd.stateDir,
    extraArgs: ['--netns-dir', join(dirname(a.agentd.controlSocket), 'netns')],
  });
  t.teardown(() => restarted.destroy());
  await waitConnected(restarted, 60_000);
  const restartedAt = Date.now();
  await sleep(AFTER_RESTART_MS);
  const r = await pings.stop();
  const afterKill = repliesSince(r, killedAt);
  t.log(`${r.transmitted} sent, ${r.received} answered; ${afterKill.count} in the ${afterKill.spanMs} ms after the kill; restarted after ${restartedAt - killedAt} ms`);
  for (const seq of r.lost) t.log(`lost ${seq}: between replies at +${(r.replies.get(seq - 1) ?? 0) - killedAt} and +${(r.replies.get(seq + 1) ?? 0) - killedAt} ms after the kill`);
  t.deepEqual(r.lost, [], 'every echo answered across the kill and the restart');
  t.true(afterKill.spanMs >= AFTER_RESTART_MS, 'pinging went on past the restart');
  t.true(afterKill.count >= (afterKill.spanMs / 1000) * 50, 'at ≥ 50/s');
  // And the other way, now through what the restarted agentd announced.
  t.true(await reach(right.netns, left.ip));
});
