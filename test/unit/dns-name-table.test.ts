// The name table, answer by answer: every name form, scoping across networks, PTR, SRV,
// NODATA vs NXDOMAIN vs forward, dnsrr shuffling, and incremental updates.
import test from 'ava';
import { DnsError } from '../../dns/errors.js';
import {
  DEFAULT_SERVICE_TTL,
  DEFAULT_TASK_TTL,
  NameTable,
  reverseNameToAddress,
  type Resolution,
  type ServiceRecord,
  type TaskRecord,
} from '../../dns/name-table.js';
import { RCode, RRType, type ResourceRecord } from '../../dns/wire.js';

const FRONT = 'n-front';
const BACK = 'n-back';
const SB_FRONT = 'sb-front';
const SB_BACK = 'sb-back';
const SB_BOTH = 'sb-both';

const WEB: ServiceRecord = {
  id: 'svc-web',
  name: 'web',
  endpointMode: 'vip',
  networks: [{ networkId: FRONT, vips: ['10.1.0.2', 'fd01::2'], aliases: ['www'] }],
  ports: [{ name: 'http', protocol: 'tcp', targetPort: 8080, publishedPort: 80 }],
};
const DB: ServiceRecord = { id: 'svc-db', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: BACK, aliases: ['database'] }] };
const API: ServiceRecord = {
  id: 'svc-api',
  name: 'api',
  endpointMode: 'vip',
  networks: [
    { networkId: FRONT, vips: ['10.1.0.3'] },
    { networkId: BACK, vips: ['10.2.0.3'] },
  ],
};

const task = (id: string, svc: string | undefined, name: string, net: string, addresses: string[], extra: Partial<TaskRecord> = {}): TaskRecord => ({
  id,
  ...(svc ? { serviceId: svc } : {}),
  name,
  healthy: true,
  networks: [{ networkId: net, addresses }],
  ...extra,
});

const TASKS: TaskRecord[] = [
  task('aaa', 'svc-web', 'web.1.aaa', FRONT, ['10.1.0.11', 'fd01::11'], { hostname: 'webhost1', containerName: '/web.1.aaa-ctr', networks: [{ networkId: FRONT, addresses: ['10.1.0.11', 'fd01::11'], aliases: ['web-primary'] }] }),
  task('bbb', 'svc-web', 'web.2.bbb', FRONT, ['10.1.0.12'], { healthy: false }),
  task('ccc', 'svc-db', 'db.1.ccc', BACK, ['10.2.0.21']),
  task('ddd', 'svc-db', 'db.2.ddd', BACK, ['10.2.0.22']),
  task('eee', 'svc-db', 'db.3.eee', BACK, ['10.2.0.23']),
  {
    id: 'fff',
    serviceId: 'svc-api',
    name: 'api.1.fff',
    healthy: true,
    networks: [
      { networkId: FRONT, addresses: ['10.1.0.31'] },
      { networkId: BACK, addresses: ['10.2.0.31'] },
    ],
  },
];

function makeTable(random?: () => number): NameTable {
  const t = new NameTable(random ? { random } : {});
  t.setNetwork({ id: FRONT, name: 'front' });
  t.setNetwork({ id: BACK, name: 'back' });
  for (const s of [WEB, DB, API]) t.setService(s);
  for (const k of TASKS) t.setTask(k);
  t.setSandbox({ id: SB_FRONT, networkIds: [FRONT] });
  t.setSandbox({ id: SB_BACK, networkIds: [BACK] });
  t.setSandbox({ id: SB_BOTH, networkIds: [FRONT, BACK] });
  return t;
}

function text(rr: ResourceRecord): string {
  switch (rr.type) {
    case RRType.A:
      return Array.from(rr.address).join('.');
    case RRType.AAAA:
      return Buffer.from(rr.address).toString('hex').replace(/(.{4})(?!$)/g, '$1:');
    case RRType.PTR:
      return `PTR ${rr.target}`;
    case RRType.SRV:
      return `SRV ${rr.port} ${rr.target}`;
  }
}

/** 'forward', 'NXDOMAIN', or the sorted answers ([] = NODATA). */
function ask(t: NameTable, name: string, from: string, type: number = RRType.A): 'forward' | 'NXDOMAIN' | string[] {
  const r = t.resolve({ name, type }, from);
  if (r.kind === 'forward') return 'forward';
  if (r.rcode === RCode.NXDOMAIN) return 'NXDOMAIN';
  return r.answers.map(text).sort();
}

const CASES: Array<[string, string, string, number, 'forward' | 'NXDOMAIN' | string[]]> = [
  // [what, name, sandbox, type, expected]
  ['service name → VIP', 'web', SB_FRONT, RRType.A, ['10.1.0.2']],
  ['service name AAAA → IPv6 VIP', 'web', SB_FRONT, RRType.AAAA, ['fd01:0000:0000:0000:0000:0000:0000:0002']],
  ['service alias → VIP', 'www', SB_FRONT, RRType.A, ['10.1.0.2']],
  ['service on another network: not ours, forwarded', 'web', SB_BACK, RRType.A, 'forward'],
  ['tasks.<service> → healthy task IPs only', 'tasks.web', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['tasks.<alias> too', 'tasks.www', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['dnsrr service → every task IP', 'db', SB_BACK, RRType.A, ['10.2.0.21', '10.2.0.22', '10.2.0.23']],
  ['dnsrr alias → every task IP', 'database', SB_BACK, RRType.A, ['10.2.0.21', '10.2.0.22', '10.2.0.23']],
  ['dnsrr without IPv6: NODATA, not NXDOMAIN', 'db', SB_BACK, RRType.AAAA, []],
  ['task name → task IP', 'web.1.aaa', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['unhealthy task name still resolves', 'web.2.bbb', SB_FRONT, RRType.A, ['10.1.0.12']],
  ['container name (leading slash dropped)', 'web.1.aaa-ctr', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['hostname', 'webhost1', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['container network alias', 'web-primary', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['task name AAAA', 'web.1.aaa', SB_FRONT, RRType.AAAA, ['fd01:0000:0000:0000:0000:0000:0000:0011']],
  ['task without IPv6: NODATA', 'db.1.ccc', SB_BACK, RRType.AAAA, []],
  ['name exists, type MX: NODATA', 'web', SB_FRONT, RRType.MX, []],
  ['ANY: both families', 'web', SB_FRONT, RRType.ANY, ['10.1.0.2', 'fd01:0000:0000:0000:0000:0000:0000:0002']],
  ['qualified service', 'web.front', SB_FRONT, RRType.A, ['10.1.0.2']],
  ['qualified tasks.', 'tasks.web.front', SB_FRONT, RRType.A, ['10.1.0.11']],
  ['qualified task name', 'db.2.ddd.back', SB_BACK, RRType.A, ['10.2.0.22']],
  ['qualified on an attached network without the name: NXDOMAIN', 'web.back', SB_BOTH, RRType.A, 'NXDOMAIN'],
  ['unknown name under an attached network: NXDOMAIN', 'nothing.front', SB_FRONT, RRType.A, 'NXDOMAIN'],
  ['qualified on a network not attached: forwarded', 'web.front', SB_BACK, RRType.A, 'forward'],
  ['service on two networks: the first attached wins', 'api', SB_BOTH, RRType.A, ['10.1.0.3']],
  ['service on two networks: qualified picks', 'api.back', SB_BOTH, RRType.A, ['10.2.0.3']],
  ['service on two networks from one', 'api', SB_BACK, RRType.A, ['10.2.0.3']],
  ['multi-network sandbox sees both networks', 'db', SB_BOTH, RRType.A, ['10.2.0.21', '10.2.0.22', '10.2.0.23']],
  ['external name: forwarded', 'example.com', SB_FRONT, RRType.A, 'forward'],
  ['unknown sandbox: forwarded', 'web', 'sb-nobody', RRType.A, 'forward'],
  ['PTR of a task IP → <task>.<network>', '11.0.1.10.in-addr.arpa', SB_FRONT, RRType.PTR, ['PTR web.1.aaa.front']],
  ['PTR of a VIP → <service>.<network>', '2.0.1.10.in-addr.arpa', SB_FRONT, RRType.PTR, ['PTR web.front']],
  ['PTR of an IPv6 VIP', `${'fd010000000000000000000000000002'.split('').reverse().join('.')}.ip6.arpa`, SB_FRONT, RRType.PTR, ['PTR web.front']],
  ['PTR of an IPv6 task IP', `${'fd010000000000000000000000000011'.split('').reverse().join('.')}.ip6.arpa`, SB_FRONT, RRType.PTR, ['PTR web.1.aaa.front']],
  ['PTR of an IP on a network not attached: forwarded', '21.0.2.10.in-addr.arpa', SB_FRONT, RRType.PTR, 'forward'],
  ['PTR of an unknown IP: forwarded', '9.9.9.9.in-addr.arpa', SB_FRONT, RRType.PTR, 'forward'],
  ['A for a known reverse name: NODATA', '11.0.1.10.in-addr.arpa', SB_FRONT, RRType.A, []],
  ['PTR of a dnsrr task', '23.0.2.10.in-addr.arpa', SB_BACK, RRType.PTR, ['PTR db.3.eee.back']],
  ['SRV by port name → healthy tasks, target port', '_http._tcp.web', SB_FRONT, RRType.SRV, ['SRV 8080 web.1.aaa']],
  ['SRV by port number', '_8080._tcp.web', SB_FRONT, RRType.SRV, ['SRV 8080 web.1.aaa']],
  ['SRV name asked for A: NODATA', '_http._tcp.web', SB_FRONT, RRType.A, []],
  ['SRV for an unpublished protocol: forwarded', '_http._udp.web', SB_FRONT, RRType.SRV, 'forward'],
];

for (const [what, name, from, type, expected] of CASES) {
  test(`${what}: ${name} from ${from}`, (t) => {
    t.deepEqual(ask(makeTable(), name, from, type), expected);
  });
}

test('TTLs: VIPs get the service TTL, task addresses the task TTL; both configurable', (t) => {
  const first = (r: Resolution) => (r.kind === 'answer' ? r.answers[0]?.ttl : undefined);
  const def = makeTable();
  t.is(first(def.resolve({ name: 'web', type: RRType.A }, SB_FRONT)), DEFAULT_SERVICE_TTL);
  t.is(first(def.resolve({ name: 'tasks.web', type: RRType.A }, SB_FRONT)), DEFAULT_TASK_TTL);
  t.is(first(def.resolve({ name: '2.0.1.10.in-addr.arpa', type: RRType.PTR }, SB_FRONT)), DEFAULT_SERVICE_TTL);
  const custom = new NameTable({ serviceTtl: 5, taskTtl: 1 });
  custom.setNetwork({ id: FRONT, name: 'front' });
  custom.setService(WEB);
  custom.setTask(TASKS[0]!);
  custom.setSandbox({ id: SB_FRONT, networkIds: [FRONT] });
  t.is(first(custom.resolve({ name: 'web', type: RRType.A }, SB_FRONT)), 5);
  t.is(first(custom.resolve({ name: 'web.1.aaa', type: RRType.A }, SB_FRONT)), 1);
});

test('dnsrr answers are shuffled: every order shows up', (t) => {
  const table = makeTable();
  const orders = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = table.resolve({ name: 'db', type: RRType.A }, SB_BACK);
    if (r.kind === 'answer') orders.add(r.answers.map(text).join(','));
  }
  t.is(orders.size, 6, 'all 3! orders of three tasks');
});

test('shuffle uses the injected random source', (t) => {
  const a = makeTable(() => 0);
  const b = makeTable(() => 0);
  const r1 = a.resolve({ name: 'db', type: RRType.A }, SB_BACK);
  const r2 = b.resolve({ name: 'db', type: RRType.A }, SB_BACK);
  t.deepEqual(r1, r2);
});

test('SRV additionals: the targets addresses, owned by the target names', (t) => {
  const table = makeTable();
  const r = table.resolve({ name: '_http._tcp.web', type: RRType.SRV }, SB_FRONT);
  if (r.kind !== 'answer') return t.fail('expected an answer');
  const add = table.additionalsFor(r.answers, SB_FRONT);
  t.deepEqual(add.map((x) => [x.name, text(x)]), [['web.1.aaa', '10.1.0.11'], ['web.1.aaa', 'fd01:0000:0000:0000:0000:0000:0000:0011']]);
});

test('updates: a new task resolves at once, everywhere it should', (t) => {
  const table = makeTable();
  table.setTask(task('ggg', 'svc-db', 'db.4.ggg', BACK, ['10.2.0.24']));
  t.deepEqual(ask(table, 'db.4.ggg', SB_BACK), ['10.2.0.24']);
  t.true((ask(table, 'db', SB_BACK) as string[]).includes('10.2.0.24'));
  t.true((ask(table, 'tasks.db', SB_BACK) as string[]).includes('10.2.0.24'));
  t.deepEqual(ask(table, '24.0.2.10.in-addr.arpa', SB_BACK, RRType.PTR), ['PTR db.4.ggg.back']);
});

test('updates: a removed task disappears from every name and PTR', (t) => {
  const table = makeTable();
  table.removeTask('aaa');
  for (const name of ['web.1.aaa', 'web.1.aaa-ctr', 'webhost1', 'web-primary', '11.0.1.10.in-addr.arpa']) t.is(ask(table, name, SB_FRONT), 'forward', name);
  t.deepEqual(ask(table, 'tasks.web', SB_FRONT), []);
  t.deepEqual(ask(table, '_http._tcp.web', SB_FRONT, RRType.SRV), []);
  t.deepEqual(ask(table, 'web', SB_FRONT), ['10.1.0.2'], 'the VIP stays');
});

test('updates: health flips membership of tasks.<svc> and dnsrr, not the task name', (t) => {
  const table = makeTable();
  table.setTask({ ...TASKS[2]!, healthy: false });
  t.deepEqual(ask(table, 'db', SB_BACK), ['10.2.0.22', '10.2.0.23']);
  t.deepEqual(ask(table, 'tasks.db', SB_BACK), ['10.2.0.22', '10.2.0.23']);
  t.deepEqual(ask(table, 'db.1.ccc', SB_BACK), ['10.2.0.21']);
  table.setTask({ ...TASKS[1]!, healthy: true });
  t.deepEqual(ask(table, 'tasks.web', SB_FRONT), ['10.1.0.11', '10.1.0.12']);
});

test('updates: removing a service drops its names, aliases, tasks.*, SRV and VIP PTR; tasks keep theirs', (t) => {
  const table = makeTable();
  table.removeService('svc-web');
  for (const [name, type] of [['web', RRType.A], ['www', RRType.A], ['tasks.web', RRType.A], ['_http._tcp.web', RRType.SRV], ['2.0.1.10.in-addr.arpa', RRType.PTR]] as const) {
    t.is(ask(table, name, SB_FRONT, type), 'forward', name);
  }
  t.deepEqual(ask(table, 'web.1.aaa', SB_FRONT), ['10.1.0.11']);
});

test('updates: setService again replaces (new VIP, aliases), no duplicates', (t) => {
  const table = makeTable();
  table.setService({ ...WEB, networks: [{ networkId: FRONT, vips: ['10.1.0.99'], aliases: ['www2'] }] });
  t.deepEqual(ask(table, 'web', SB_FRONT), ['10.1.0.99']);
  t.is(ask(table, 'www', SB_FRONT), 'forward');
  t.deepEqual(ask(table, 'www2', SB_FRONT), ['10.1.0.99']);
  t.deepEqual(ask(table, '99.0.1.10.in-addr.arpa', SB_FRONT, RRType.PTR), ['PTR web.front']);
  t.is(ask(table, '2.0.1.10.in-addr.arpa', SB_FRONT, RRType.PTR), 'forward');
  table.setTask(TASKS[0]!);
  t.deepEqual(ask(table, 'web.1.aaa', SB_FRONT), ['10.1.0.11']);
});

test('updates: tasks arriving before their service (remote tasks from gossip) join tasks.<svc> when it comes', (t) => {
  const table = new NameTable();
  table.setNetwork({ id: BACK, name: 'back' });
  table.setSandbox({ id: SB_BACK, networkIds: [BACK] });
  table.setTask(TASKS[2]!);
  t.is(ask(table, 'tasks.db', SB_BACK), 'forward');
  table.setService(DB);
  t.deepEqual(ask(table, 'tasks.db', SB_BACK), ['10.2.0.21']);
});

test('updates: sandbox scope follows setSandbox / removeSandbox', (t) => {
  const table = makeTable();
  t.is(ask(table, 'db', SB_FRONT), 'forward');
  table.setSandbox({ id: SB_FRONT, networkIds: [FRONT, BACK] });
  t.is((ask(table, 'db', SB_FRONT) as string[]).length, 3);
  table.removeSandbox(SB_FRONT);
  t.is(ask(table, 'web', SB_FRONT), 'forward');
});

test('a service name outranks a container that happens to share it', (t) => {
  const table = makeTable();
  table.setTask(task('zzz', undefined, 'web', FRONT, ['10.1.0.77']));
  t.deepEqual(ask(table, 'web', SB_FRONT), ['10.1.0.2']);
  table.removeService('svc-web');
  t.deepEqual(ask(table, 'web', SB_FRONT), ['10.1.0.77']);
});

test('a shared container alias returns every holder', (t) => {
  const table = makeTable();
  table.setTask(task('y1', undefined, 'c1', FRONT, ['10.1.0.81'], { networks: [{ networkId: FRONT, addresses: ['10.1.0.81'], aliases: ['cache'] }] }));
  table.setTask(task('y2', undefined, 'c2', FRONT, ['10.1.0.82'], { networks: [{ networkId: FRONT, addresses: ['10.1.0.82'], aliases: ['cache'] }] }));
  t.deepEqual(ask(table, 'cache', SB_FRONT), ['10.1.0.81', '10.1.0.82']);
  table.removeTask('y1');
  t.deepEqual(ask(table, 'cache', SB_FRONT), ['10.1.0.82']);
});

test('a name or address held by one task, then several, then one again answers its holders at each step', (t) => {
  const table = makeTable();
  const holder = (id: string, address: string): TaskRecord => task(id, undefined, id, FRONT, [address], { networks: [{ networkId: FRONT, addresses: [address], aliases: ['shared'] }] });
  const ptr = (address: string) => ask(table, `${address.split('.').reverse().join('.')}.in-addr.arpa`, SB_FRONT, RRType.PTR);
  table.setTask(holder('h1', '10.1.0.91'));
  t.deepEqual(ask(table, 'shared', SB_FRONT), ['10.1.0.91']);
  table.setTask(holder('h2', '10.1.0.92'));
  table.setTask(holder('h3', '10.1.0.93'));
  t.deepEqual(ask(table, 'shared', SB_FRONT), ['10.1.0.91', '10.1.0.92', '10.1.0.93']);
  table.removeTask('h2');
  table.removeTask('h1');
  t.deepEqual(ask(table, 'shared', SB_FRONT), ['10.1.0.93']);
  table.setTask(holder('h4', '10.1.0.93'));
  t.deepEqual(ptr('10.1.0.93'), ['PTR h3.front']);
  table.removeTask('h3');
  t.deepEqual(ptr('10.1.0.93'), ['PTR h4.front']);
  t.deepEqual(ask(table, 'shared', SB_FRONT), ['10.1.0.93']);
  table.removeTask('h4');
  t.is(ask(table, 'shared', SB_FRONT), 'forward');
  t.is(ptr('10.1.0.93'), 'forward');
});

test('churn leaves no index entries behind', (t) => {
  const table = makeTable();
  const internals = table as unknown as { index: Map<string, { names: Map<string, unknown>; ptr: Map<string, unknown> }> };
  const before = [...internals.index.values()].map((i) => [i.names.size, i.ptr.size]);
  for (let i = 0; i < 1000; i++) {
    table.setTask(task(`churn${i}`, 'svc-db', `db.${i}.churn${i}`, BACK, [`10.2.${(i >> 8) + 10}.${i & 255}`], { hostname: `h${i}` }));
  }
  for (let i = 0; i < 1000; i++) table.removeTask(`churn${i}`);
  t.deepEqual([...internals.index.values()].map((i) => [i.names.size, i.ptr.size]), before);
});

test('records are validated with actionable errors', (t) => {
  const table = new NameTable();
  const bad = [
    () => table.setService({ ...WEB, name: 'not a name' }),
    () => table.setService({ ...WEB, networks: [{ networkId: FRONT, vips: ['10.1.0.300'] }] }),
    () => table.setService({ ...WEB, ports: [{ protocol: 'tcp', targetPort: 0 }] }),
    () => table.setTask({ ...TASKS[0]!, networks: [{ networkId: FRONT, addresses: ['nope'] }] }),
    () => table.setTask({ ...TASKS[0]!, hostname: 'a'.repeat(64) }),
    () => table.setNetwork({ id: 'x', name: '' }),
    // Only strict literals: a lenient parser would take these as 8.1.0.2 and 0.0.0.1.
    () => table.setService({ ...WEB, networks: [{ networkId: FRONT, vips: ['010.1.0.2'] }] }),
    () => table.setTask({ ...TASKS[0]!, networks: [{ networkId: FRONT, addresses: ['1'] }] }),
    () => table.setService({ ...WEB, ports: [{ protocol: 'gre' as 'tcp', targetPort: 80 }] }),
    () => table.setService({ ...WEB, endpointMode: 'mesh' as 'vip' }),
  ];
  const generation = table.generation;
  for (const f of bad) {
    const err = t.throws(f, { instanceOf: DnsError });
    t.is(err?.code, 'E_DNS_BAD_RECORD');
  }
  t.is(table.generation, generation, 'a refused record is no change: kept answers stay good');
  const ttl = t.throws(() => new NameTable({ taskTtl: -1 }), { instanceOf: DnsError });
  t.is(ttl?.code, 'E_DNS_BAD_CONFIG');
  t.regex(ttl?.message ?? '', /taskTtl must be an integer number of seconds/);
  t.is(table.size().services, 0, 'a rejected record changes nothing');
});

test('reverseNameToAddress', (t) => {
  t.is(reverseNameToAddress('4.3.2.1.in-addr.arpa'), '1.2.3.4');
  t.is(reverseNameToAddress('3.2.1.in-addr.arpa'), undefined);
  t.is(reverseNameToAddress('256.3.2.1.in-addr.arpa'), undefined);
  t.is(reverseNameToAddress('04.3.2.1.in-addr.arpa'), undefined);
  t.is(reverseNameToAddress(`${'20010db8000000000000000000000001'.split('').reverse().join('.')}.ip6.arpa`), '2001:db8:0:0:0:0:0:1');
  t.is(reverseNameToAddress('1.0.ip6.arpa'), undefined);
  t.is(reverseNameToAddress('example.com'), undefined);
});
