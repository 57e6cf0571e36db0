// Warm sandboxes (sandbox-pool.ts) against a private dockerd with its default bridge, in a test
// host's namespace: a task without networks joins one and still reaches another host through
// the engine's bridge and NAT; the pool refills once idle; a task that needs its own netns
// settings does not take one; removal and orphan cleanup take a taken sandbox away with its
// task and leave the warm ones.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { DockerExecutor } from '../../agent/exec/docker/executor.js';
import { makeTask } from '../unit/exec-fixture.js';

const NODE_ID = 'node000000000000000000001';
const POOL = 2;
const ROOT = `/run/bt-pool-${randomBytes(3).toString('hex')}`;
const never = new AbortController().signal;
let underlay: Underlay;
let engine: PrivateDockerd;

test.before(async () => {
  underlay = await createHosts(2);
  engine = await startDockerd({ host: underlay.hosts[0]! });
});
test.after.always(async () => {
  await engine?.stop();
  await underlay?.destroy();
  await rm(ROOT, { recursive: true, force: true });
});

const inspect = async (name: string, format: string) => (await engine.docker(['inspect', '-f', format, name])).stdout.trim();
const poolNames = async () => (await engine.docker(['ps', '-a', '--filter', 'label=io.berth.role=pool', '--format', '{{.Names}} {{.State}}'])).stdout.trim().split('\n').filter(Boolean).sort();

test.serial('a task without networks joins a warm sandbox, reaches another host, and the pool refills', async (t) => {
  const ex = new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'bridge', sandboxPool: POOL });
  await ex.startSandboxPool(NODE_ID);
  await waitFor('the pool to fill', async () => ex.warmSandboxes === POOL, 30_000, 100);
  t.deepEqual((await poolNames()).map((l) => l.split(' ')[1]), ['running', 'running']);

  const task = makeTask({ args: ['sh', '-c', 'exec sleep 1000'] });
  const c = ex.controller(task);
  await c.prepare(never);
  await c.start(never);
  const name = `web.1.${task.id}`;
  const sandboxId = await inspect(`berth-sandbox.${task.id}`, '{{.Id}}');
  t.is(await inspect(name, '{{.HostConfig.NetworkMode}}'), `container:${sandboxId}`);
  t.is(await inspect(`berth-sandbox.${task.id}`, '{{.HostConfig.NetworkMode}}'), 'bridge', 'the sandbox is on the engine bridge');
  t.regex(await inspect(`berth-sandbox.${task.id}`, '{{.NetworkSettings.IPAddress}}'), /^\d+\.\d+\.\d+\.\d+$/, 'docker inspect shows the address on the sandbox');
  // Egress: from the task, through docker0 and the engine's masquerade, to the other host.
  const ping = await engine.docker(['exec', name, 'ping', '-c', '1', '-W', '3', underlay.hosts[1]!.address]);
  t.regex(ping.stdout, /1 packets received/);
  t.is(ex.warmSandboxes, POOL - 1);
  await waitFor('the pool to refill once idle', async () => ex.warmSandboxes === POOL, 30_000, 100);

  // Ports published on the host need the task's own netns: no warm sandbox for it.
  const ported = makeTask({ args: ['sh', '-c', 'exec sleep 1000'] }, { endpoint: { spec: null, ports: [{ name: '', protocol: 0, target_port: 80, published_port: 0, publish_mode: 1 }], virtual_ips: [] } } as never);
  const pc = ex.controller(ported);
  await pc.prepare(never);
  await pc.start(never);
  t.is(await inspect(`web.1.${ported.id}`, '{{.HostConfig.NetworkMode}}'), 'bridge');
  t.is(ex.warmSandboxes, POOL);

  // Shutdown stops the taken sandbox with its task (its address goes back); remove() takes both away.
  await c.shutdown(never);
  t.is(await inspect(`berth-sandbox.${task.id}`, '{{.State.Status}}'), 'exited');
  await c.remove();
  await pc.remove();
  const left = (await engine.docker(['ps', '-a', '--format', '{{.Names}}'])).stdout;
  t.false(left.includes(task.id), left);
  t.false(left.includes(ported.id), left);
  t.is((await poolNames()).length, POOL, 'the warm ones stay');
});

test.serial('orphan cleanup removes a taken sandbox of an unknown task and keeps the warm ones; a new agentd adopts them', async (t) => {
  const ex = new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'bridge', sandboxPool: POOL });
  await ex.startSandboxPool(NODE_ID);
  t.is(ex.warmSandboxes, POOL, 'the warm sandboxes of the earlier executor are adopted, none made');
  const task = makeTask({ args: ['sh', '-c', 'exec sleep 1000'] });
  const c = ex.controller(task);
  await c.prepare(never);
  await c.start(never);
  const report = await ex.cleanupOrphans(new Set(), NODE_ID);
  t.deepEqual(report.containers.sort(), [`berth-sandbox.${task.id}`, `web.1.${task.id}`].sort());
  await waitFor('the pool to refill once idle', async () => ex.warmSandboxes === POOL, 30_000, 100);
  t.is((await poolNames()).length, POOL);
});
