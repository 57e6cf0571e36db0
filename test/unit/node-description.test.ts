// What the node tells the manager it can do (issue #13, item 8): the manager's scheduler places a
// task only on a node whose description lists every network driver the task's networks use, so
// overlay is listed only when the data plane is up; and a task on an overlay that reaches a node
// without one anyway fails naming the network and why, before touching the engine.
import test from 'ava';
import Docker from 'dockerode';
import { buildNodeDescription, type EngineInventory, type HostInventory } from '../../agent/node-description.js';
import { DockerExecutor, unplumbableNetworkError } from '../../agent/exec/docker/executor.js';
import { TaskError } from '../../agent/exec/executor.js';
import { taskNetworksOf } from '../../agent/exec/docker/task-networks.js';
import { overlayAttachments } from '../../netd/index.js';
import type { Task } from '../../agent/proto/api.js';
import { containerSpec } from './exec-fixture.js';

const HOST: HostInventory = { hostname: 'h1', architecture: 'x86_64', os: 'linux', nanoCpus: 2e9, memoryBytes: 4 << 30 };
const ENGINE: EngineInventory = { version: '20.10.24', labels: { zone: 'a' }, logDrivers: ['json-file', 'local'] };

const plugins = (overlay: boolean, type: string) =>
  (buildNodeDescription(HOST, ENGINE, { overlay }).engine?.plugins ?? [])
    .filter((p) => p.type === type)
    .map((p) => p.name)
    .sort();

test('the node lists the overlay driver only when its data plane is up', (t) => {
  t.deepEqual(plugins(true, 'Network'), ['bridge', 'host', 'null', 'overlay']);
  t.deepEqual(plugins(false, 'Network'), ['bridge', 'host', 'null']);
  for (const overlay of [true, false]) {
    t.deepEqual(plugins(overlay, 'Volume'), ['local']);
    t.deepEqual(plugins(overlay, 'Log'), ['json-file', 'local']);
  }
  const d = buildNodeDescription(HOST, ENGINE, { overlay: false });
  t.like(d, { hostname: 'h1', platform: { architecture: 'x86_64', os: 'linux' }, engine: { engine_version: '20.10.24', labels: { zone: 'a' } } });
  t.is(d.resources?.nano_cpus, String(2e9));
});

function overlayTask(networks: Array<{ id: string; name: string; driver: string }>): Task {
  return {
    id: 'task1',
    service_id: 'svc1',
    service_annotations: { name: 'web', labels: {} },
    slot: 1,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    desired_state: 'RUNNING',
    spec: { container: containerSpec(), networks: networks.map((n) => ({ target: n.id, aliases: [] })) },
    endpoint: null,
    networks: networks.map((n, i) => ({
      network: { id: n.id, spec: { annotations: { name: n.name }, ingress: false }, driver_state: { name: n.driver, options: {} }, ipam: { configs: [{ subnet: `10.9.${i}.0/24`, gateway: `10.9.${i}.1` }] } },
      addresses: [`10.9.${i}.5/24`],
      aliases: [],
    })),
  } as unknown as Task;
}

test('a task on an overlay the node cannot plumb: a coded error naming the network and why', (t) => {
  const task = overlayTask([
    { id: 'net-app', name: 'appnet', driver: 'overlay' },
    { id: 'net-br', name: 'br', driver: 'bridge' },
  ]);
  const err = unplumbableNetworkError(overlayAttachments(taskNetworksOf(task)), 'the data plane is off');
  t.true(err instanceof TaskError);
  t.is(err?.code, 'E_NETWORK_UNAVAILABLE');
  t.false(err?.temporary);
  t.regex(err?.message ?? '', /overlay network "appnet" \(net-app\): this node cannot plumb overlays: the data plane is off; /);
  t.notRegex(err?.message ?? '', /"br"/, 'only the overlays are named');
  t.is(unplumbableNetworkError(overlayAttachments(taskNetworksOf(overlayTask([{ id: 'net-br', name: 'br', driver: 'bridge' }])))), undefined, 'no overlay: nothing to refuse');
});

test('without a data plane, an overlay task fails at prepare before any engine call; a task on no overlay is not refused', async (t) => {
  // An engine nobody answers at: any engine call would fail with a connection error instead.
  const executor = new DockerExecutor(new Docker({ socketPath: '/nonexistent/berth-test.sock' }), { noNetworkingReason: "agentd's data plane is off (--no-data-plane)" });
  const err = await t.throwsAsync(executor.controller(overlayTask([{ id: 'net-app', name: 'appnet', driver: 'overlay' }])).prepare(new AbortController().signal));
  t.is((err as TaskError).code, 'E_NETWORK_UNAVAILABLE');
  t.regex(err?.message ?? '', /"appnet" \(net-app\).*data plane is off \(--no-data-plane\)/);
  const plain = await t.throwsAsync(executor.controller(overlayTask([])).prepare(new AbortController().signal));
  t.not((plain as TaskError).code, 'E_NETWORK_UNAVAILABLE', 'a task on no overlay goes on to the engine');
});
