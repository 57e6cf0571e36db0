// Health → DNS: a task with a healthcheck is published with its names but out of
// `tasks.<svc>` and dnsrr answers until its controller reports it healthy (as Docker's worker
// activates a task's service binding only then), and out again when it turns unhealthy.
// TaskNetworking against a real NameTable, with netd and the listeners faked.
import test from 'ava';
import { TaskNetworking } from '../../agent/networking.js';
import type { Task } from '../../agent/proto/api.js';
import type { EmbeddedDns } from '../../dns/embedded.js';
import { NameTable } from '../../dns/name-table.js';
import { RRType } from '../../dns/wire.js';
import type { OverlayDataPlane } from '../../netd/index.js';

const NET = 'net-app';
const PROBER = 'sb-prober';
const ENDPOINT_DNSRR = 1;

function overlayTask(id: string, slot: number, address: string, service = { id: 'svc-web', name: 'web', dnsrr: false }): Task {
  return {
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
        aliases: [],
      },
    ],
  } as unknown as Task;
}

function setup(): { net: TaskNetworking; table: NameTable; ask(name: string, type?: number): string[] | 'forward' } {
  const table = new NameTable({ random: () => 0 });
  const dataPlane = { attachSandbox: async () => undefined, detachSandbox: async () => undefined } as unknown as OverlayDataPlane;
  const dns = {
    table,
    openSandbox: async (id: string, _path: string, networkIds: readonly string[]) => table.setSandbox({ id, networkIds }),
    closeSandbox: async (id: string) => table.removeSandbox(id),
  } as unknown as EmbeddedDns;
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  const ask = (name: string, type: number = RRType.A) => {
    const r = table.resolve({ name, type }, PROBER);
    if (r.kind === 'forward') return 'forward';
    return r.answers.map((a) => (a.type === RRType.A ? Array.from(a.address).join('.') : a.type === RRType.SRV ? a.target : '?')).sort();
  };
  return { net: new TaskNetworking(dataPlane, dns, () => undefined), table, ask };
}

test('NameTable.setTaskHealthy flips membership in place; unknown task: false', (t) => {
  const table = new NameTable();
  table.setNetwork({ id: NET, name: 'appnet' });
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  table.setService({ id: 's', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: NET }] });
  table.setTask({ id: 'a', serviceId: 's', name: 'db.1.a', healthy: false, networks: [{ networkId: NET, addresses: ['10.9.0.5'] }] });
  const ips = (name: string) => {
    const r = table.resolve({ name, type: RRType.A }, PROBER);
    return r.kind === 'answer' ? r.answers.map((a) => (a.type === RRType.A ? a.address.join('.') : '')) : 'forward';
  };
  t.deepEqual(ips('db'), []);
  t.deepEqual(ips('tasks.db'), []);
  t.deepEqual(ips('db.1.a'), ['10.9.0.5']);
  t.true(table.setTaskHealthy('a', true));
  t.deepEqual(ips('db'), ['10.9.0.5']);
  t.deepEqual(ips('tasks.db'), ['10.9.0.5']);
  t.true(table.setTaskHealthy('a', false));
  t.deepEqual(ips('tasks.db'), []);
  t.deepEqual(ips('db.1.a'), ['10.9.0.5'], 'the task name resolves regardless');
  t.false(table.setTaskHealthy('nope', true));
  t.deepEqual(table.size().tasks, 1);
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
  net.setHealthy(checked, true);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11', '10.9.0.12']);
  net.setHealthy(checked, false);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11']);
  t.deepEqual(ask('web.2.bbb'), ['10.9.0.12']);
});

test('dnsrr answers and SRV follow health too', async (t) => {
  const { net, ask, table } = setup();
  const svc = { id: 'svc-db', name: 'db', dnsrr: true };
  const a = overlayTask('ccc', 1, '10.9.0.21', svc);
  const b = overlayTask('ddd', 2, '10.9.0.22', svc);
  await net.attach(a, '/p', { healthy: false });
  await net.attach(b, '/p', { healthy: false });
  t.deepEqual(ask('db'), []);
  net.setHealthy(b, true);
  t.deepEqual(ask('db'), ['10.9.0.22']);
  table.setService({ id: 'svc-db', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: NET }], ports: [{ protocol: 'tcp', targetPort: 5432 }] });
  t.deepEqual(ask('_5432._tcp.db', RRType.SRV), ['db.2.ddd']);
});

test('a re-attach (start, wait, a new sandbox) keeps the health last set', async (t) => {
  const { net, ask } = setup();
  const task = overlayTask('eee', 1, '10.9.0.31');
  await net.attach(task, '/p', { healthy: false });
  net.setHealthy(task, true);
  await net.attach(task, '/p2', { healthy: false });
  t.deepEqual(ask('tasks.web'), ['10.9.0.31']);
  net.setHealthy(task, false);
  await net.attach(task, '/p3', { healthy: true });
  t.deepEqual(ask('tasks.web'), []);
});

test('setHealthy after unpublish (a late health event) does not bring the names back', async (t) => {
  const { net, ask } = setup();
  const task = overlayTask('fff', 1, '10.9.0.41');
  net.setHealthy(task, true);
  t.is(ask('web.1.fff'), 'forward', 'never attached: nothing published');
  await net.attach(task, '/p', { healthy: false });
  net.unpublish(task);
  net.setHealthy(task, true);
  t.is(ask('web.1.fff'), 'forward');
  t.is(ask('tasks.web'), 'forward', 'the service went with its last local task');
  // Published again after a withdrawal, the health given at attach applies afresh.
  await net.attach(task, '/p', { healthy: false });
  t.deepEqual(ask('web.1.fff'), ['10.9.0.41']);
  t.deepEqual(ask('tasks.web'), []);
  await net.detach(task);
  net.setHealthy(task, true);
  t.is(ask('web.1.fff'), 'forward');
});
