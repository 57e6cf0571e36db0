// A real manager hands agentd tasks; agentd runs them on its own dockerd and reports back.
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

test('a service constrained to the berth node runs there; the node survives a manager restart', async (t) => {
  const { manager, engine, agentd: a, status: st } = await startBerthCluster(t);

  await manager.dockerd.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'web', '--replicas', '2', '--constraint', `node.id==${st.nodeId}`, TEST_IMAGE, 'sleep', '3600']);
  const ps = await waitFor(
    'both replicas Running on the berth node',
    async () => {
      const out = (await manager.dockerd.docker(['service', 'ps', 'web', '--format', '{{.Node}} {{.CurrentState}} {{.Error}}'])).stdout.trim().split('\n');
      return out.length === 2 && out.every((l) => l.includes(' Running ')) ? out : undefined;
    },
    30_000,
  );
  t.is(ps.length, 2);
  const containers = (await engine.docker(['ps', '--filter', 'label=io.berth.role=task', '--format', '{{.Names}} {{.Label "com.docker.swarm.node.id"}}'])).stdout.trim().split('\n').sort();
  t.is(containers.length, 2);
  for (const c of containers) t.regex(c, new RegExp(`^web\\.[12]\\.[a-z0-9]{25} ${st.nodeId}$`));

  // Manager restart: the node is Ready again within 15 s of the manager's return, tasks untouched.
  const before = (await engine.docker(['ps', '-q'])).stdout.trim().split('\n').sort();
  await manager.dockerd.restart({ downMs: 2_000 });
  const back = Date.now();
  await waitFor(
    'the berth node Ready after the manager restart',
    async () => {
      const ls = (await manager.dockerd.docker(['node', 'inspect', st.nodeId, '--format', '{{.Status.State}}'])).stdout.trim();
      const s = await a.status();
      return ls === 'ready' && s.connected && s.sessions.opened >= 2;
    },
    15_000,
  );
  t.log(`Ready again ${Date.now() - back} ms after the manager answered`);
  const after = (await engine.docker(['ps', '-q'])).stdout.trim().split('\n').sort();
  t.deepEqual(after, before, 'tasks kept running while the manager was away');

  // Scale down: the manager shuts one task down and removes it.
  await manager.dockerd.docker(['service', 'scale', '--detach', 'web=1']);
  await waitFor('one task container left', async () => (await engine.docker(['ps', '-aq', '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n').filter(Boolean).length === 1, 30_000);
  await manager.dockerd.docker(['service', 'rm', 'web']);
  await waitFor('every container removed', async () => (await engine.docker(['ps', '-aq'])).stdout.trim() === '', 30_000);
  t.pass();
});
