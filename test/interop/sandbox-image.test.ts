// agentd brings its own sandbox image: on an engine that has never seen berth/pause:local (only
// the task image is there), agentd imports it from its layout at start, and a task on an overlay
// network — which needs a sandbox — runs.
import test from 'ava';
import { createHosts } from '../../scripts/lib/hosts.js';
import { startDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { PAUSE_IMAGE, TEST_IMAGE } from '../../scripts/lib/images.js';
import { runQuiet, waitFor } from '../../scripts/lib/exec.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';

test('agentd imports its sandbox image into an engine that lacks it; an overlay task then runs', async (t) => {
  const underlay = await createHosts(2);
  t.teardown(() => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  t.teardown(() => manager.stop());
  const engine = await startDockerd({ host: underlay.hosts[1]!, images: 'test-only' });
  t.teardown(() => engine.stop());
  t.false(await runQuiet('/usr/bin/docker', ['-H', engine.dockerHost, 'image', 'inspect', PAUSE_IMAGE]), 'the engine starts without the sandbox image');

  const agentd = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken });
  t.teardown(() => agentd.destroy());
  const { nodeId } = await waitConnected(agentd, 60_000);
  t.teardown(() => new TaskDirs().removeOwnedBy(nodeId));
  await waitFor('agentd to import the sandbox image', () => runQuiet('/usr/bin/docker', ['-H', engine.dockerHost, 'image', 'inspect', PAUSE_IMAGE]), 60_000, 250);
  t.true(agentd.logs().includes('imported the sandbox image'), 'agentd says it imported it');

  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.126.0.0/24', 'sbxnet']);
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${nodeId}`, '--name', 'sbx', '--network', 'sbxnet', TEST_IMAGE, 'sleep', '3600']);
  const state = await waitFor(
    'the overlay task Running',
    async () => {
      const s = (await d.docker(['service', 'ps', 'sbx', '--format', '{{.CurrentState}}|{{.Error}}'])).stdout.trim().split('\n')[0] ?? '';
      return s.startsWith('Running') ? s : undefined;
    },
    120_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${agentd.logs().split('\n').slice(-20).join('\n')}`);
  });
  t.log(state);
  const sandboxes = (await engine.docker(['ps', '--filter', `ancestor=${PAUSE_IMAGE}`, '--format', '{{.ID}}'])).stdout.trim().split('\n').filter(Boolean);
  t.is(sandboxes.length, 1, 'the task runs in a sandbox made from the imported image');
});
