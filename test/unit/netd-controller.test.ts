// The network controller's bookkeeping between a task's lifecycle, the DNS and the gossip: names
// published at attach and withdrawn first at shutdown, health gating service answers (a task with
// a healthcheck is in `tasks.<svc>` and dnsrr answers only once healthy, as Docker's worker
// activates a service binding only then), other nodes' endpoints beside local tasks, and the
// cheap "still attached" check start and wait rely on. Real NameTable + NameRegistry; the overlay
// plane, the DNS listeners and the gossip are fakes (named so: this is about the bookkeeping —
// the real ones are exercised by the integration and interop suites).
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { taskNetworksOf } from '../../agent/exec/docker/task-networks.js';
import type { Task } from '../../agent/proto/api.js';
import { NameTable } from '../../dns/name-table.js';
import { NameRegistry } from '../../dns/records.js';
import { RRType } from '../../dns/wire.js';
import { NetworkController, type ClusterPort, type OverlayPlane, type SandboxDns } from '../../netd/controller/network-controller.js';
import type { TaskNetworks } from '../../netd/index.js';
import { NetdValidationError } from '../../netd/errors.js';

const NET = 'net-app';
const PROBER = 'sb-prober';
const ENDPOINT_DNSRR = 1;

function overlayTask(id: string, slot: number, address: string, service = { id: 'svc-web', name: 'web', dnsrr: false }): TaskNetworks {
  return taskNetworksOf({
    id,
    service_id: service.id,
    service_annotations: { name: service.name, labels: {} },
    slot,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    spec: { container: { hostname: '' }, networks: [] },
    endpoint: { spec: { mode: service.dnsrr ? ENDPOINT_DNSRR : 0 }, ports: [], virtual_ips: service.dnsrr ? [] : [{ network_id: NET, addr: '10.9.0.2/24' }] },
    networks: [
      {
        network: { id: NET, spec: { annotations: { name: 'appnet' }, ingress: false }, driver_state: { name: 'overlay', options: {} }, ipam: { configs: [] } },
        addresses: [`${address}/24`],
        aliases: ['al'],
      },
    ],
  } as unknown as Task);
}

const remote = (over: Record<string, unknown> = {}) => ({
  name: 'web.2.remote',
  serviceName: 'web',
  serviceId: 'svc-web',
  virtualIp: '10.9.0.2',
  endpointIp: '10.9.0.7',
  aliases: [],
  taskAliases: [],
  serviceDisabled: false,
  ...over,
});

function setup(plane: Partial<OverlayPlane> = {}) {
  const table = new NameTable({ random: () => 0 });
  const fakePlane = { attachSandbox: async () => [], detachSandbox: async () => undefined, ...plane } as unknown as OverlayPlane;
  const fakeListeners = {
    records: new NameRegistry(table),
    openSandbox: async (id: string, _p: string, networkIds: readonly string[]) => table.setSandbox({ id, networkIds }),
    closeSandbox: async (id: string) => table.removeSandbox(id),
  } as unknown as SandboxDns;
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  const published: Array<{ network: string; key: string; ip: string; names: Record<string, unknown> }> = [];
  const withdrawn: string[] = [];
  const disabled: Array<[string, boolean]> = [];
  const fakeGossip: ClusterPort = {
    gossip: { setKeys: () => undefined, settled: async () => undefined, stats: () => undefined, close: async () => undefined },
    endpoints: {
      publish: (network, key, ep, names) => void published.push({ network, key, ip: ep.ip, names: { ...names } }),
      withdraw: (_network, key) => void withdrawn.push(key),
      setDisabled: (key, d) => void disabled.push([key, d]),
    },
  };
  const ask = (name: string, type: number = RRType.A) => {
    const r = table.resolve({ name, type }, PROBER);
    if (r.kind === 'forward') return 'forward';
    return r.answers.map((a) => (a.type === RRType.A ? Array.from(a.address).join('.') : a.type === RRType.SRV ? a.target : '?')).sort();
  };
  const net = new NetworkController({ plane: fakePlane, dns: fakeListeners, cluster: fakeGossip }, { log: () => undefined, reconcileIntervalMs: 0 });
  return { net, table, ask, published, withdrawn, disabled };
}

test('a local task is announced with its names; a remote one joins tasks.<svc>; the service stays while any task is left', async (t) => {
  const { net, ask, published, withdrawn, disabled } = setup();
  const local = overlayTask('aaa', 1, '10.9.0.5');
  await net.attach(local, '/proc/1/ns/net', { healthy: true });
  t.is(published.length, 1);
  t.like(published[0]!, { network: NET, ip: '10.9.0.5', names: { name: 'web.1.aaa', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', taskAliases: ['al'] } });
  t.deepEqual(ask('tasks.web'), ['10.9.0.5']);

  net.setRemote(NET, 'k-remote', remote());
  t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.7']);
  t.deepEqual(ask('web.2.remote'), ['10.9.0.7']);
  t.deepEqual(ask('web'), ['10.9.0.2']);

  // The last local task goes: the remote one still makes the service. Shutdown first marks
  // the entry disabled (other nodes drain it), detach withdraws it.
  await net.unpublish(local.taskId);
  t.deepEqual(disabled, [[published[0]!.key, true]]);
  t.deepEqual(withdrawn, []);
  await net.detach(local.taskId);
  t.deepEqual(withdrawn, [published[0]!.key]);
  t.deepEqual(ask('tasks.web'), ['10.9.0.7']);
  t.deepEqual(ask('web'), ['10.9.0.2']);
  // A disabled (not healthy) remote task leaves the service's answers but keeps its name.
  net.setRemote(NET, 'k-remote', remote({ serviceDisabled: true }));
  t.deepEqual(ask('tasks.web'), []);
  t.deepEqual(ask('web.2.remote'), ['10.9.0.7']);
  net.removeRemote(NET, 'k-remote');
  t.deepEqual(ask('web'), 'forward', 'no task left anywhere: the service is gone');
  t.deepEqual(ask('web.2.remote'), 'forward');
});

test('a remote dnsrr service (no VIP, or "<nil>" as Docker writes it) answers with its tasks', (t) => {
  const { net, ask } = setup();
  net.setRemote(NET, 'k1', remote({ name: 'db.1.x', serviceName: 'db', serviceId: 'svc-db', virtualIp: '<nil>', endpointIp: '10.9.0.21' }));
  net.setRemote(NET, 'k2', remote({ name: 'db.2.y', serviceName: 'db', serviceId: 'svc-db', virtualIp: '', endpointIp: '10.9.0.22' }));
  t.deepEqual(ask('db'), ['10.9.0.21', '10.9.0.22']);
  net.removeRemote(NET, 'k1');
  t.deepEqual(ask('db'), ['10.9.0.22']);
});

test("a bad record from another node is dropped alone: it never blocks a local task's attach", async (t) => {
  const { net, ask } = setup();
  net.setRemote(NET, 'k-bad', remote({ name: 'not a dns name!', endpointIp: '10.9.0.8', aliases: ['bad alias'] }));
  net.setRemote(NET, 'k-good', remote());
  await t.notThrowsAsync(net.attach(overlayTask('aaa', 1, '10.9.0.5'), '/proc/1/ns/net', { healthy: true }));
  t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.7']);
  t.is(ask('web.1.aaa')[0], '10.9.0.5');
});

test('attach with healthy: false publishes the names but not in tasks.<svc> until setHealthy', async (t) => {
  const { net, ask } = setup();
  const plain = overlayTask('aaa', 1, '10.9.0.11');
  const checked = overlayTask('bbb', 2, '10.9.0.12');
  await net.attach(plain, '/proc/1/ns/net', { healthy: true });
  await net.attach(checked, '/proc/1/ns/net', { healthy: false });
  t.deepEqual(ask('web.2.bbb'), ['10.9.0.12'], 'own name before healthy');
  t.deepEqual(ask('tasks.web'), ['10.9.0.11']);
  t.deepEqual(ask('web'), ['10.9.0.2'], 'the VIP is there regardless');
  net.setHealthy(checked.taskId, true);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11', '10.9.0.12']);
  net.setHealthy(checked.taskId, false);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11']);
  t.deepEqual(ask('web.2.bbb'), ['10.9.0.12']);
});

test('dnsrr answers follow health too', async (t) => {
  const { net, ask } = setup();
  const svc = { id: 'svc-db', name: 'db', dnsrr: true };
  await net.attach(overlayTask('ccc', 1, '10.9.0.21', svc), '/p', { healthy: false });
  await net.attach(overlayTask('ddd', 2, '10.9.0.22', svc), '/p', { healthy: false });
  t.deepEqual(ask('db'), []);
  net.setHealthy('ddd', true);
  t.deepEqual(ask('db'), ['10.9.0.22']);
});

test('a re-attach (start, wait, a new sandbox) keeps the health last set', async (t) => {
  const { net, ask } = setup();
  const task = overlayTask('eee', 1, '10.9.0.31');
  await net.attach(task, '/p', { healthy: false });
  net.setHealthy(task.taskId, true);
  await net.attach(task, '/p2', { healthy: false });
  t.deepEqual(ask('tasks.web'), ['10.9.0.31']);
  net.setHealthy(task.taskId, false);
  await net.attach(task, '/p3', { healthy: true });
  t.deepEqual(ask('tasks.web'), []);
});

test('setHealthy after unpublish (a late health event) does not bring the names back', async (t) => {
  const { net, ask } = setup();
  const task = overlayTask('fff', 1, '10.9.0.41');
  net.setHealthy(task.taskId, true);
  t.is(ask('web.1.fff'), 'forward', 'never attached: nothing published');
  await net.attach(task, '/p', { healthy: false });
  await net.unpublish(task.taskId);
  net.setHealthy(task.taskId, true);
  t.is(ask('web.1.fff'), 'forward');
  t.is(ask('tasks.web'), 'forward', 'the service went with its last local task');
  // Published again after a withdrawal, the health given at attach applies afresh.
  await net.attach(task, '/p', { healthy: false });
  t.deepEqual(ask('web.1.fff'), ['10.9.0.41']);
  t.deepEqual(ask('tasks.web'), []);
  await net.detach(task.taskId);
  net.setHealthy(task.taskId, true);
  t.is(ask('web.1.fff'), 'forward');
});

test('isAttached: true only for the namespace this process attached, while it is the same namespace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Files stand in for /proc/<pid>/ns/net: the check compares the path and what it names (dev:inode).
  const ns = join(dir, 'ns');
  writeFileSync(ns, '');
  let attaches = 0;
  const { net } = setup({ attachSandbox: async () => (attaches++, []) });
  const task = overlayTask('ggg', 1, '10.9.0.51');
  t.false(net.isAttached(task.taskId, ns), 'never attached (a restarted agentd)');
  await net.attach(task, ns, { healthy: true });
  t.is(attaches, 1);
  t.true(net.isAttached(task.taskId, ns));
  t.false(net.isAttached(task.taskId, join(dir, 'other')), 'another sandbox');
  // Made while the first still exists, so it is surely another inode; then put in its place.
  writeFileSync(join(dir, 'ns2'), '');
  renameSync(join(dir, 'ns2'), ns);
  t.false(net.isAttached(task.taskId, ns), 'the path now names another namespace (a reused pid)');
  await net.attach(task, ns, { healthy: true });
  t.true(net.isAttached(task.taskId, ns));
  await net.detach(task.taskId);
  t.false(net.isAttached(task.taskId, ns), 'detached');
});

test('a failed attach leaves nothing published and says whether a retry can help', async (t) => {
  const { net, ask, published } = setup({
    attachSandbox: async () => {
      throw new NetdValidationError('E_ADDRESS_IN_USE', 'address 10.9.0.61 on network net-app is already used by task x');
    },
  });
  const task = overlayTask('hhh', 1, '10.9.0.61');
  const err = await t.throwsAsync(net.attach(task, '/p', { healthy: true }));
  t.false((err as NetdValidationError).temporary);
  t.is(ask('web.1.hhh'), 'forward');
  t.is(published.length, 0);
  t.false(net.isAttached(task.taskId, '/p'));
});

/** A task of a service without networks, as the agent hands it over. */
function networklessTask(id: string, ports: unknown[] = []): TaskNetworks {
  return taskNetworksOf({
    id,
    service_id: 'svc-bare',
    service_annotations: { name: 'bare', labels: {} },
    slot: 1,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    spec: { container: { hostname: '' }, networks: [] },
    endpoint: { spec: { mode: 0 }, ports, virtual_ips: [] },
    networks: [],
  } as unknown as Task);
}

/** The controller with egress: a fake gateway join (recording) and fake host rules. */
function gatewaySetup(networklessTasks?: 'gateway' | 'bridge') {
  const joins: Array<{ key: string; netnsPath: string; ifname: string }> = [];
  const left: string[] = [];
  const opened: Array<{ id: string; networkIds: readonly string[] }> = [];
  const plane = {
    attachSandbox: async () => [],
    detachSandbox: async () => undefined,
    joinGateway: async (key: string, netnsPath: string, ifname: string) => (joins.push({ key, netnsPath, ifname }), { address: '172.31.4.9/16' }),
    leaveGateway: async (key: string) => void left.push(key),
  } as unknown as OverlayPlane;
  const dns = {
    records: new NameRegistry(new NameTable({ random: () => 0 })),
    openSandbox: async (id: string, _p: string, networkIds: readonly string[]) => void opened.push({ id, networkIds }),
    closeSandbox: async () => undefined,
  } as unknown as SandboxDns;
  const hostRules = { setState: async () => undefined, ensure: async () => undefined };
  const net = new NetworkController({ plane, dns, hostRules }, { log: () => undefined, reconcileIntervalMs: 0, ...(networklessTasks ? { networklessTasks } : {}) });
  return { net, joins, left, opened };
}

test('a task without networks is plumbed onto the gateway bridge alone: eth0, the DNS with no network, its address handed back', async (t) => {
  const { net, joins, left, opened } = gatewaySetup();
  const bare = networklessTask('bbb');
  t.true(net.wants(bare));
  t.deepEqual(await net.attach(bare, '/proc/7/ns/net', { healthy: true }), { gatewayAddress: '172.31.4.9' });
  t.deepEqual(joins, [{ key: 'bbb', netnsPath: '/proc/7/ns/net', ifname: 'eth0' }]);
  t.deepEqual(opened, [{ id: 'bbb', networkIds: [] }]);
  await net.detach('bbb');
  t.deepEqual(left, ['bbb']);
});

test('tasks without networks stay on the engine: with --networkless-tasks bridge, with a host-mode port, or without egress', (t) => {
  t.false(gatewaySetup('bridge').net.wants(networklessTask('b1')));
  t.false(gatewaySetup().net.wants(networklessTask('b2', [{ protocol: 0, target_port: 80, published_port: 8080, publish_mode: 1 }])));
  t.false(setup().net.wants(networklessTask('b3')));
  t.true(gatewaySetup('bridge').net.wants(overlayTask('o1', 1, '10.9.0.5')), 'an overlay task is plumbed either way');
});
