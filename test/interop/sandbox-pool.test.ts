// agentd with warm sandboxes (--sandbox-pool, with --networkless-tasks bridge) under a real manager: a service without networks
// runs in warm sandboxes and reaches the manager's host from its first instruction (the network
// is there before the task's process runs); a restarted agentd adopts the warm ones; removing
// the service leaves only the warm ones.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const POOL = 2;

test('tasks without networks take warm sandboxes, have egress at once, and the pool survives an agentd restart', async (t) => {
  const c = await startBerthCluster(t, { extraArgs: ['--sandbox-pool', String(POOL), '--networkless-tasks', 'bridge'] });
  const { manager, engine, status: st } = c;
  const warm = async () => (await engine.docker(['ps', '--filter', 'label=io.berth.role=pool', '--filter', 'name=berth-pool.', '--format', '{{.ID}}'])).stdout.trim().split('\n').filter(Boolean).sort();
  await waitFor('the pool full', async () => (await warm()).length === POOL, 60_000, 200);

  // The task fails (and Docker would retry it elsewhere) unless its first command reaches the manager's host.
  const script = `ping -c 1 -W 3 ${manager.address.split(':')[0]} || exit 3; exec sleep 3600`;
  await manager.dockerd.docker(['service', 'create', '--detach', '--no-resolve-image', '--restart-condition', 'none', '--name', 'egress', '--replicas', '2', '--constraint', `node.id==${st.nodeId}`, TEST_IMAGE, 'sh', '-c', script]);
  await waitFor(
    'both replicas Running',
    async () => {
      const out = (await manager.dockerd.docker(['service', 'ps', 'egress', '--format', '{{.CurrentState}} {{.Error}}'])).stdout.trim().split('\n');
      if (out.some((l) => /^(Failed|Rejected|Complete)/.test(l))) throw new Error(`a task ended: ${out.join('; ')}`);
      return out.length === 2 && out.every((l) => l.startsWith('Running'));
    },
    60_000,
  );
  const tasks = (await engine.docker(['ps', '--filter', 'label=io.berth.role=task', '--format', '{{.Names}}'])).stdout.trim().split('\n');
  t.is(tasks.length, 2);
  for (const name of tasks) t.regex((await engine.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', name])).stdout.trim(), /^container:[0-9a-f]{64}$/, name);

  await waitFor('the pool refilled', async () => (await warm()).length === POOL, 60_000, 200);
  const before = await warm();
  await c.agentd.kill('SIGTERM');
  const again = await startAgentd({ host: c.underlay.hosts[1]!, dockerd: engine, manager: manager.address, stateDir: c.agentd.stateDir, extraArgs: ['--sandbox-pool', String(POOL), '--networkless-tasks', 'bridge'] });
  t.teardown(() => again.destroy());
  await waitConnected(again, 60_000);
  await waitFor('the restarted agentd settled', async () => (await again.status()).connected, 30_000);
  t.deepEqual(await warm(), before, 'the warm sandboxes were adopted, none made or removed');

  await manager.dockerd.docker(['service', 'rm', 'egress']);
  await waitFor('only the warm sandboxes left', async () => (await engine.docker(['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean).length === POOL, 60_000, 200);
  t.deepEqual(await warm(), before);
});
