// NameRecords (dns/records.ts): what the network controller writes. Each task — local, or
// another node's endpoint from the gossip — says what it knows of its service; the name table
// holds their union (local views first), kept while any task is left. Each record is checked on
// its own before anything changes: a bad one from another node is refused alone and counted, and
// never spoils the service record the next good task (local or remote) merges into. Names are
// checked by resolving them through the NameTable, as a sandbox on the networks would.
import test from 'ava';
import { EmbeddedDns } from '../../dns/embedded.js';
import { DnsError } from '../../dns/errors.js';
import { NameTable, type ServiceRecord, type TaskRecord } from '../../dns/name-table.js';
import { NameRegistry } from '../../dns/records.js';
import { RRType } from '../../dns/wire.js';

const NET = 'net-app';
const NET_B = 'net-b';
const PROBER = 'sb-prober';
const PROBER_B = 'sb-prober-b';
const VIP = '10.9.0.2';

/** What a local task says of svc-web: the spec's view (ports, aliases). */
const LOCAL_WEB: ServiceRecord = {
  id: 'svc-web',
  name: 'web',
  endpointMode: 'vip',
  networks: [{ networkId: NET, vips: [VIP], aliases: ['www'] }],
  ports: [{ name: 'http', protocol: 'tcp', targetPort: 8080, publishedPort: 80 }],
};

/** A local task of svc-web on NET. */
const localTask = (id: string, ip: string, over: Partial<TaskRecord> = {}): TaskRecord => ({
  id,
  serviceId: 'svc-web',
  name: `web.1.${id}`,
  containerName: `web.1.${id}`,
  healthy: true,
  networks: [{ networkId: NET, addresses: [ip], aliases: ['al'] }],
  ...over,
});

/** Another node's endpoint, as the controller turns an endpoint_table entry into records. */
function remote(key: string, ip: string, over: { name?: string; serviceId?: string; serviceName?: string; vip?: string; aliases?: string[]; taskAliases?: string[]; network?: string; healthy?: boolean } = {}): { task: TaskRecord; service: ServiceRecord } {
  const serviceId = over.serviceId ?? 'svc-web';
  const network = over.network ?? NET;
  const vip = over.vip ?? VIP;
  return {
    task: { id: key, remote: true, serviceId, name: over.name ?? `web.2.${key}`, containerName: over.name ?? `web.2.${key}`, healthy: over.healthy ?? true, networks: [{ networkId: network, addresses: [ip], aliases: over.taskAliases ?? [] }] },
    service: { id: serviceId, name: over.serviceName ?? 'web', endpointMode: vip ? 'vip' : 'dnsrr', networks: [{ networkId: network, vips: vip ? [vip] : [], aliases: over.aliases ?? [] }] },
  };
}

function setup() {
  const table = new NameTable({ random: () => 0 });
  const records = new NameRegistry(table);
  records.setNetwork({ id: NET, name: 'appnet' });
  records.setNetwork({ id: NET_B, name: 'bnet' });
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  table.setSandbox({ id: PROBER_B, networkIds: [NET_B] });
  /** 'forward', or the sorted answers (A as dotted quads, SRV as "port target"). */
  const ask = (name: string, type: number = RRType.A, from = PROBER): 'forward' | string[] => {
    const r = table.resolve({ name, type }, from);
    if (r.kind === 'forward') return 'forward';
    return r.answers.map((a) => (a.type === RRType.A ? Array.from(a.address).join('.') : a.type === RRType.SRV ? `${a.port} ${a.target}` : '?')).sort();
  };
  const addRemote = (r: { task: TaskRecord; service: ServiceRecord }) => records.setTask(r.task, r.service);
  return { table, records, ask, addRemote };
}

function throwsBadRecord(t: import('ava').ExecutionContext, f: () => void): void {
  const err = t.throws(f, { instanceOf: DnsError });
  t.is(err?.code, 'E_DNS_BAD_RECORD');
}

test('local and remote tasks of one service: tasks.<svc> across them; the service stays while any task is left, goes with the last', (t) => {
  const { records, ask, addRemote } = setup();
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  addRemote(remote('k-remote', '10.9.0.7'));
  t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.7']);
  t.deepEqual(ask('web.2.k-remote'), ['10.9.0.7']);
  t.deepEqual(ask('web'), [VIP]);
  t.deepEqual(ask('al'), ['10.9.0.5'], 'the local container alias');

  // The last local task goes: the remote one still makes the service.
  records.removeTask('aaa');
  t.deepEqual(ask('web.1.aaa'), 'forward');
  t.deepEqual(ask('tasks.web'), ['10.9.0.7']);
  t.deepEqual(ask('web'), [VIP]);
  // A disabled (not healthy) remote task leaves the service's answers but keeps its name.
  addRemote(remote('k-remote', '10.9.0.7', { healthy: false }));
  t.deepEqual(ask('tasks.web'), []);
  t.deepEqual(ask('web.2.k-remote'), ['10.9.0.7']);
  records.removeTask('k-remote');
  t.is(ask('web'), 'forward', 'no task left anywhere: the service is gone');
  t.is(ask('tasks.web'), 'forward');
  t.is(ask('web.2.k-remote'), 'forward');
});

test('a remote dnsrr service answers with its tasks; one leaving leaves the rest', (t) => {
  const { records, ask, addRemote } = setup();
  addRemote(remote('k1', '10.9.0.21', { name: 'db.1.x', serviceId: 'svc-db', serviceName: 'db', vip: '' }));
  addRemote(remote('k2', '10.9.0.22', { name: 'db.2.y', serviceId: 'svc-db', serviceName: 'db', vip: '' }));
  t.deepEqual(ask('db'), ['10.9.0.21', '10.9.0.22']);
  records.removeTask('k1');
  t.deepEqual(ask('db'), ['10.9.0.22']);
  records.removeTask('k2');
  t.is(ask('db'), 'forward');
});

test('networks are united by id: each contribution brings its own, and takes it away when it goes', (t) => {
  const { records, ask, addRemote } = setup();
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  // Another node's task of the same service, on a network this node's task is not on.
  addRemote(remote('k-b', '10.8.0.7', { network: NET_B, vip: '10.8.0.2' }));
  t.deepEqual(ask('web'), [VIP]);
  t.deepEqual(ask('web', RRType.A, PROBER_B), ['10.8.0.2']);
  t.deepEqual(ask('tasks.web', RRType.A, PROBER_B), ['10.8.0.7']);
  records.removeTask('aaa');
  t.is(ask('web'), 'forward', 'NET left with the only task that named it');
  t.deepEqual(ask('web', RRType.A, PROBER_B), ['10.8.0.2']);
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  t.deepEqual(ask('web'), [VIP]);
  records.removeTask('k-b');
  t.is(ask('web', RRType.A, PROBER_B), 'forward');
  t.deepEqual(ask('www'), [VIP]);
});

test('local views win, whichever came first: ports, aliases and VIPs of a shared network; the remote view alone after the last local task', (t) => {
  const { records, ask, addRemote } = setup();
  // The remote view arrives first and differs: no ports, no alias, another (stale) VIP.
  addRemote(remote('k-remote', '10.9.0.7', { vip: '10.9.0.99' }));
  t.deepEqual(ask('web'), ['10.9.0.99']);
  t.is(ask('_http._tcp.web', RRType.SRV), 'forward');
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  t.deepEqual(ask('web'), [VIP], "the local task's VIP on the network both name");
  t.deepEqual(ask('www'), [VIP], "the local task's service alias");
  t.deepEqual(ask('_http._tcp.web', RRType.SRV), ['8080 web.1.aaa', '8080 web.2.k-remote'], "the local task's ports, over every healthy task");
  // More remote tasks later change nothing of that.
  addRemote(remote('k-late', '10.9.0.8', { vip: '10.9.0.98' }));
  t.deepEqual(ask('web'), [VIP]);
  t.deepEqual(ask('_8080._tcp.web', RRType.SRV), ['8080 web.1.aaa', '8080 web.2.k-late', '8080 web.2.k-remote']);
  records.removeTask('aaa');
  t.deepEqual(ask('web'), ['10.9.0.99'], 'the first remote view, once no local task is left');
  t.is(ask('www'), 'forward');
  t.is(ask('_http._tcp.web', RRType.SRV), 'forward');
});

test('a task whose serviceId changed leaves its old service (gone if it was the last) and joins the new one', (t) => {
  const { records, ask } = setup();
  const API: ServiceRecord = { id: 'svc-api', name: 'api', endpointMode: 'vip', networks: [{ networkId: NET, vips: ['10.9.0.3'] }] };
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  records.setTask(localTask('bbb', '10.9.0.6'), LOCAL_WEB);
  records.setTask(localTask('aaa', '10.9.0.5', { serviceId: 'svc-api' }), API);
  t.deepEqual(ask('tasks.web'), ['10.9.0.6'], 'aaa left tasks.web');
  t.deepEqual(ask('web'), [VIP], 'bbb still speaks for web');
  t.deepEqual(ask('api'), ['10.9.0.3']);
  t.deepEqual(ask('tasks.api'), ['10.9.0.5']);
  records.setTask(localTask('bbb', '10.9.0.6', { serviceId: 'svc-api' }), API);
  t.is(ask('web'), 'forward', 'its last task moved: web is gone');
  t.deepEqual(ask('tasks.api'), ['10.9.0.5', '10.9.0.6']);
  // Given again without a service record, a task no longer speaks for one.
  records.setTask(localTask('aaa', '10.9.0.5', { serviceId: 'svc-api' }));
  records.removeTask('bbb');
  t.is(ask('api'), 'forward');
  t.deepEqual(ask('web.1.aaa'), ['10.9.0.5']);
});

const BAD_REMOTES: Array<[string, ReturnType<typeof remote>, 'name' | 'address' | 'shape']> = [
  ['a service alias that is not a DNS name', remote('k-bad', '10.9.0.66', { aliases: ['not a name'] }), 'name'],
  ['a service name that is not a DNS name', remote('k-bad', '10.9.0.66', { serviceName: 'web!' }), 'name'],
  ['a VIP that is not an address', remote('k-bad', '10.9.0.66', { vip: '10.9.0.300' }), 'address'],
  ['a VIP that only a lenient parser takes (octal)', remote('k-bad', '10.9.0.66', { vip: '010.9.0.2' }), 'address'],
  ['a task name that is not a DNS name', remote('k-bad', '10.9.0.66', { name: 'web 2 bad' }), 'name'],
  ['a task alias that is not a DNS name', remote('k-bad', '10.9.0.66', { taskAliases: ['-bad-'] }), 'name'],
  ['a task address that is not an address', remote('k-bad', 'nope'), 'address'],
  ['a service record for another service than the task', { ...remote('k-bad', '10.9.0.66'), service: remote('x', '10.9.0.66', { serviceId: 'svc-other' }).service }, 'shape'],
];

for (const [what, bad, reason] of BAD_REMOTES) {
  test(`a remote record with ${what} is refused alone, counted, changes nothing; a local task of the service still attaches and resolves`, (t) => {
    const { table, records, ask, addRemote } = setup();
    addRemote(remote('k-good', '10.9.0.7'));
    const generation = table.generation;
    const size = table.size();
    throwsBadRecord(t, () => addRemote(bad));
    t.is(table.generation, generation, 'nothing changed: kept answers stay good');
    t.deepEqual(table.size(), size);
    t.like(records.stats(), { rejected: 1, rejectedBy: { [reason]: 1 } });
    t.is(ask('web.2.k-bad'), 'forward');
    t.deepEqual(ask('tasks.web'), ['10.9.0.7']);

    // A local task of the same service, saying more than the remote ones (ports, an alias).
    t.notThrows(() => records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB));
    t.deepEqual(ask('web'), [VIP]);
    t.deepEqual(ask('www'), [VIP]);
    t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.7']);
    t.deepEqual(ask('web.1.aaa'), ['10.9.0.5']);
    t.deepEqual(ask('_http._tcp.web', RRType.SRV), ['8080 web.1.aaa', '8080 web.2.k-good']);
    // And so does another remote task, and a second local one.
    t.notThrows(() => addRemote(remote('k-next', '10.9.0.8')));
    t.notThrows(() => records.setTask(localTask('bbb', '10.9.0.6'), LOCAL_WEB));
    t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.6', '10.9.0.7', '10.9.0.8']);
    t.is(records.stats().rejected, 1);
  });
}

test('a bad record for a task already there leaves its previous record and contribution as they were', (t) => {
  const { table, records, ask, addRemote } = setup();
  addRemote(remote('k1', '10.9.0.7', { aliases: ['front'] }));
  const generation = table.generation;
  throwsBadRecord(t, () => addRemote(remote('k1', '10.9.0.9', { aliases: ['front', 'not a name'] })));
  throwsBadRecord(t, () => addRemote(remote('k1', '10.9.0.9', { serviceId: 'svc-other', vip: 'x' })));
  t.is(table.generation, generation);
  t.deepEqual(ask('web.2.k1'), ['10.9.0.7']);
  t.deepEqual(ask('front'), [VIP]);
  t.deepEqual(ask('tasks.web'), ['10.9.0.7']);
  t.like(records.stats(), { rejected: 2, rejectedBy: { name: 1, address: 1 } });
  records.removeTask('k1');
  t.is(ask('web'), 'forward', 'the contribution that stayed is still counted, and goes with its task');
});

test('local records are checked the same way: a bad port or network name is refused and counted', (t) => {
  const { records, ask } = setup();
  throwsBadRecord(t, () => records.setTask(localTask('aaa', '10.9.0.5'), { ...LOCAL_WEB, ports: [{ protocol: 'tcp', targetPort: 70000 }] }));
  throwsBadRecord(t, () => records.setTask(localTask('aaa', '10.9.0.5'), { ...LOCAL_WEB, ports: [{ protocol: 'icmp' as 'tcp', targetPort: 80 }] }));
  throwsBadRecord(t, () => records.setNetwork({ id: 'n-x', name: 'no spaces allowed' }));
  throwsBadRecord(t, () => records.setTask(localTask('aaa', '10.9.0.5', { hostname: 'a'.repeat(64) }), LOCAL_WEB));
  t.is(ask('web.1.aaa'), 'forward');
  t.is(ask('web'), 'forward');
  t.like(records.stats(), { rejected: 4, rejectedBy: { port: 2, name: 2, address: 0, shape: 0 } });
});

test('setTaskHealthy and removeTask of an unknown task change nothing', (t) => {
  const { records, ask, table } = setup();
  records.setTask(localTask('aaa', '10.9.0.5', { healthy: false }), LOCAL_WEB);
  records.setTaskHealthy('nope', true);
  records.removeTask('nope');
  t.deepEqual(ask('tasks.web'), []);
  t.is(table.size().tasks, 1);
  records.setTaskHealthy('aaa', true);
  t.deepEqual(ask('tasks.web'), ['10.9.0.5']);
});

test('tasks saying the same of their service write the service record once', (t) => {
  const { table, records, addRemote } = setup();
  let writes = 0;
  const setService = table.setService.bind(table);
  table.setService = (r) => {
    writes++;
    setService(r);
  };
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  records.setTask(localTask('bbb', '10.9.0.6'), LOCAL_WEB);
  addRemote(remote('k1', '10.9.0.7'));
  addRemote(remote('k2', '10.9.0.8'));
  records.removeTask('bbb');
  t.is(writes, 1);
  addRemote(remote('k3', '10.9.0.9', { network: NET_B, vip: '10.8.0.2' }));
  t.is(writes, 2, 'a new network changes the record');
});

test('a bulk of remote tasks saying what the merge says: one service record, local views still win, the service goes with the last', (t) => {
  const { table, records, ask, addRemote } = setup();
  let writes = 0;
  const setService = table.setService.bind(table);
  table.setService = (r) => {
    writes++;
    setService(r);
  };
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  keys.forEach((k, i) => addRemote(remote(k, `10.9.1.${i + 1}`)));
  t.is(writes, 1, 'the first remote task made the record; the other 199 said the same');
  t.is(ask('tasks.web').length, 200);
  t.deepEqual(ask('_http._tcp.web', RRType.SRV), 'forward', 'no task has said anything of ports yet');
  // A local task brings the spec's view (ports, alias): it wins over what the remote tasks share.
  records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  t.is(ask('_http._tcp.web', RRType.SRV).length, 201);
  t.deepEqual(ask('www'), [VIP]);
  records.removeTask('aaa');
  t.deepEqual(ask('www'), 'forward', 'the alias went with the only task that said it');
  // A remote task that says something new about the service is merged in, and out again.
  addRemote(remote('k-b', '10.8.0.9', { network: NET_B, vip: '10.8.0.2' }));
  t.deepEqual(ask('web', RRType.A, PROBER_B), ['10.8.0.2']);
  records.removeTask('k-b');
  t.is(ask('web', RRType.A, PROBER_B), 'forward');
  for (const k of keys.slice(0, -1)) records.removeTask(k);
  t.deepEqual(ask('web'), [VIP], 'one task left: the service stays');
  records.removeTask(keys.at(-1)!);
  t.is(ask('web'), 'forward');
});

test('EmbeddedDns: the controller writes through records; stats count what is held and what was refused', async (t) => {
  // Upstream sockets open on the first forwarded query only: none here.
  const dns = await EmbeddedDns.create({ upstreams: [{ address: '127.0.0.1', port: 53 }] });
  t.teardown(() => dns.close());
  dns.records.setNetwork({ id: NET, name: 'appnet' });
  dns.records.setTask(localTask('aaa', '10.9.0.5'), LOCAL_WEB);
  const bad = remote('k-bad', '10.9.0.66', { aliases: ['not a name'] });
  throwsBadRecord(t, () => dns.records.setTask(bad.task, bad.service));
  t.like(dns.stats().records, { networks: 1, services: 1, tasks: 1, rejected: 1, rejectedBy: { name: 1 } });
});
