// Health → DNS: a task with a healthcheck is published with its names but out of
// `tasks.<svc>`, dnsrr and SRV answers until its controller reports it healthy (as Docker's
// worker activates a task's service binding only then), and out again when it turns unhealthy.
// Through NameRecords (what the network controller writes) over a real NameTable; remembering
// health across a re-attach is the controller's job, so here a re-attach is a setTask with the
// health the controller gives.
import test from 'ava';
import { NameTable, type ServiceRecord, type TaskRecord } from '../../dns/name-table.js';
import { NameRegistry } from '../../dns/records.js';
import { RRType } from '../../dns/wire.js';

const NET = 'net-app';
const PROBER = 'sb-prober';

const WEB: ServiceRecord = { id: 'svc-web', name: 'web', endpointMode: 'vip', networks: [{ networkId: NET, vips: ['10.9.0.2'] }] };
const DB: ServiceRecord = { id: 'svc-db', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: NET }], ports: [{ protocol: 'tcp', targetPort: 5432 }] };

function overlayTask(id: string, slot: number, address: string, healthy: boolean, service: ServiceRecord = WEB): TaskRecord {
  const name = `${service.name}.${slot}.${id}`;
  return { id, serviceId: service.id, name, containerName: name, healthy, networks: [{ networkId: NET, addresses: [address], aliases: [] }] };
}

function setup(): { records: NameRegistry; table: NameTable; ask(name: string, type?: number): string[] | 'forward' } {
  const table = new NameTable({ random: () => 0 });
  const records = new NameRegistry(table);
  records.setNetwork({ id: NET, name: 'appnet' });
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  const ask = (name: string, type: number = RRType.A) => {
    const r = table.resolve({ name, type }, PROBER);
    if (r.kind === 'forward') return 'forward';
    return r.answers.map((a) => (a.type === RRType.A ? Array.from(a.address).join('.') : a.type === RRType.SRV ? a.target : '?')).sort();
  };
  return { records, table, ask };
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

test('a task set with healthy: false has its names but is out of tasks.<svc> until setTaskHealthy', (t) => {
  const { records, ask } = setup();
  records.setTask(overlayTask('aaa', 1, '10.9.0.11', true), WEB);
  records.setTask(overlayTask('bbb', 2, '10.9.0.12', false), WEB);
  t.deepEqual(ask('web.2.bbb'), ['10.9.0.12'], 'own name before healthy');
  t.deepEqual(ask('tasks.web'), ['10.9.0.11']);
  t.deepEqual(ask('web'), ['10.9.0.2'], 'the VIP is there regardless');
  records.setTaskHealthy('bbb', true);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11', '10.9.0.12']);
  records.setTaskHealthy('bbb', false);
  t.deepEqual(ask('tasks.web'), ['10.9.0.11']);
  t.deepEqual(ask('web.2.bbb'), ['10.9.0.12']);
});

test('dnsrr answers and SRV follow health too', (t) => {
  const { records, ask } = setup();
  records.setTask(overlayTask('ccc', 1, '10.9.0.21', false, DB), DB);
  records.setTask(overlayTask('ddd', 2, '10.9.0.22', false, DB), DB);
  t.deepEqual(ask('db'), []);
  t.deepEqual(ask('_5432._tcp.db', RRType.SRV), []);
  records.setTaskHealthy('ddd', true);
  t.deepEqual(ask('db'), ['10.9.0.22']);
  t.deepEqual(ask('_5432._tcp.db', RRType.SRV), ['db.2.ddd']);
});

test('setTask again (a re-attach) replaces the task: the health it carries is what counts', (t) => {
  const { records, ask } = setup();
  records.setTask(overlayTask('eee', 1, '10.9.0.31', false), WEB);
  records.setTaskHealthy('eee', true);
  records.setTask(overlayTask('eee', 1, '10.9.0.31', true), WEB);
  t.deepEqual(ask('tasks.web'), ['10.9.0.31']);
  records.setTask(overlayTask('eee', 1, '10.9.0.31', false), WEB);
  t.deepEqual(ask('tasks.web'), []);
  t.deepEqual(ask('web.1.eee'), ['10.9.0.31']);
});

test('setTaskHealthy after removeTask (a late health event) does not bring the names back', (t) => {
  const { records, ask } = setup();
  records.setTaskHealthy('fff', true);
  t.is(ask('web.1.fff'), 'forward', 'never set: nothing published');
  records.setTask(overlayTask('fff', 1, '10.9.0.41', false), WEB);
  records.removeTask('fff');
  records.setTaskHealthy('fff', true);
  t.is(ask('web.1.fff'), 'forward');
  t.is(ask('tasks.web'), 'forward', 'the service went with its last task');
  // Set again after a removal, the health given applies afresh.
  records.setTask(overlayTask('fff', 1, '10.9.0.41', false), WEB);
  t.deepEqual(ask('web.1.fff'), ['10.9.0.41']);
  t.deepEqual(ask('tasks.web'), []);
});
