// The embedded DNS for real: sandboxes are network namespaces with berth's listeners on
// 127.0.0.11:53 (opened through native/), dig runs inside them, and external names go to a
// small authoritative server this test runs in its own namespace behind a veth.
import test from 'ava';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { EmbeddedDns } from '../../dns/embedded.js';
import type { ServiceRecord, TaskRecord } from '../../dns/name-table.js';
import { RRType, encodeResponse, parseQuery, type ResourceRecord } from '../../dns/wire.js';
import { openSocketInNetnsAsync } from '../../native/index.js';
import { isNativeAddonBuilt } from '../harness/native-build.js';
import { createNetns } from '../../scripts/lib/hosts.js';
import { Cleanup, requireCommand, requireRoot, run, runQuiet, uniqueName } from '../../scripts/lib/exec.js';

const ATTEMPT_TIMEOUT_MS = 300;
/** For the live upstream: generous, because the fuzz file may be flooding the same 2 cores. */
const LIVE_ATTEMPT_TIMEOUT_MS = 1500;
const ATTEMPTS = 2;
const SERVFAIL_SLACK_MS = 700;
const DIG_ARGS = ['+time=3', '+tries=1', '@127.0.0.11'];
const UPSTREAM_A = '192.0.2.1';
const UPSTREAM_BIG_ANSWERS = 100;
const BIG_DNSRR_TASKS = 100;
const ROTATION_QUERIES = 12;

const NET_FRONT = 'net-front-id';
const NET_BACK = 'net-back-id';

interface Sandbox {
  id: string;
  name: string;
  path: string;
}

interface Ctx {
  cleanup: Cleanup;
  dns: EmbeddedDns;
  front: Sandbox;
  back: Sandbox;
  both: Sandbox;
  upstreamSeen: string[];
  upstreamAddress: string;
}

let ctx: Ctx;

// ---- the test upstream: authoritative for *.example.test, NXDOMAIN elsewhere ----

function upstreamAnswer(msg: Buffer, maxSize: number, seen: string[]): Buffer | undefined {
  const q = parseQuery(msg);
  if (typeof q === 'string') return undefined;
  seen.push(q.name);
  const n = q.name === 'big.example.test' ? UPSTREAM_BIG_ANSWERS : q.name.endsWith('.example.test') ? 1 : 0;
  const answers: ResourceRecord[] = Array.from({ length: n }, (_, i) => ({ type: RRType.A, ttl: 60, address: Uint8Array.from(n === 1 ? UPSTREAM_A.split('.').map(Number) : [198, 51, 100, i + 1]) }));
  return encodeResponse(msg, q, { rcode: n === 0 ? 3 : 0, authoritative: true, answers, maxSize });
}

async function startUpstream(cleanup: Cleanup, seen: string[]): Promise<string> {
  const name = uniqueName('bup');
  const vethHost = uniqueName('vu');
  const octet = randomInt(10, 250);
  const hostAddr = `10.254.${octet}.1`;
  const upAddr = `10.254.${octet}.2`;
  await run('ip', ['netns', 'add', name]);
  cleanup.add(`ip netns del ${name}`, () => runQuiet('ip', ['netns', 'del', name]));
  await run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
  cleanup.add(`ip link del ${vethHost}`, () => runQuiet('ip', ['link', 'del', vethHost]));
  await run('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', vethHost]);
  await run('ip', ['link', 'set', vethHost, 'up']);
  await run('ip', ['-n', name, 'addr', 'add', `${upAddr}/30`, 'dev', 'eth0']);
  await run('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  const path = `/var/run/netns/${name}`;
  const udp = dgram.createSocket('udp4');
  const udpFd = await openSocketInNetnsAsync(path, { type: 'udp', address: upAddr, port: 53 });
  await new Promise<void>((resolve) => udp.bind({ fd: udpFd }, resolve));
  udp.on('message', (m, r) => {
    const q = parseQuery(m);
    const reply = upstreamAnswer(m, typeof q === 'string' ? 512 : q.edns ? q.edns.udpSize : 512, seen);
    if (reply) udp.send(reply, r.port, r.address);
  });
  const tcp = net.createServer((c) => {
    c.on('error', () => undefined);
    c.once('data', (d: Buffer) => {
      const reply = upstreamAnswer(d.subarray(2, 2 + d.readUInt16BE(0)), 65535, seen);
      if (!reply) return c.destroy();
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      c.end(Buffer.concat([len, reply]));
    });
  });
  const tcpFd = await openSocketInNetnsAsync(path, { type: 'tcp', address: upAddr, port: 53 });
  await new Promise<void>((resolve) => tcp.listen({ fd: tcpFd }, resolve));
  cleanup.add('close upstream', () => {
    udp.close();
    tcp.close();
  });
  return upAddr;
}

// ---- records ----

const WEB: ServiceRecord = {
  id: 'svc-web',
  name: 'web',
  endpointMode: 'vip',
  networks: [{ networkId: NET_FRONT, vips: ['10.10.0.2', 'fd10::2'], aliases: ['www'] }],
  ports: [{ name: 'http', protocol: 'tcp', targetPort: 8080, publishedPort: 80 }],
};
const DB: ServiceRecord = { id: 'svc-db', name: 'db', endpointMode: 'dnsrr', networks: [{ networkId: NET_BACK }] };
const BIG: ServiceRecord = { id: 'svc-big', name: 'big', endpointMode: 'dnsrr', networks: [{ networkId: NET_BACK }] };

const WEB_TASK: TaskRecord = {
  id: 'w1abc',
  serviceId: 'svc-web',
  name: 'web.1.w1abc',
  containerName: 'web-ctr',
  hostname: 'webhost',
  healthy: true,
  networks: [{ networkId: NET_FRONT, addresses: ['10.10.0.11', 'fd10::11'], aliases: ['frontdoor'] }],
};
const dbTask = (i: number): TaskRecord => ({ id: `d${i}`, serviceId: 'svc-db', name: `db.${i}.d${i}`, healthy: true, networks: [{ networkId: NET_BACK, addresses: [`10.20.0.${20 + i}`] }] });

async function sandbox(cleanup: Cleanup, dns: EmbeddedDns, id: string, networks: string[]): Promise<Sandbox> {
  const ns = await createNetns('bsb');
  cleanup.add(`delete ${ns.name}`, () => ns.destroy());
  await dns.openSandbox(id, ns.path, networks);
  cleanup.add(`close sandbox ${id}`, () => dns.closeSandbox(id));
  return { id, name: ns.name, path: ns.path };
}

test.before(async () => {
  requireRoot('dns integration tests');
  requireCommand('dig', 'dnsutils');
  if (!isNativeAddonBuilt()) throw new Error('native addon not built: run `npm run build:native` first');
  const cleanup = new Cleanup();
  const upstreamSeen: string[] = [];
  const upstreamAddress = await startUpstream(cleanup, upstreamSeen);
  const dns = await EmbeddedDns.create({ upstreams: [{ address: upstreamAddress, port: 53 }], attemptTimeoutMs: LIVE_ATTEMPT_TIMEOUT_MS, attempts: ATTEMPTS });
  cleanup.add('close dns', () => dns.close());
  const r = dns.records;
  r.setNetwork({ id: NET_FRONT, name: 'front' });
  r.setNetwork({ id: NET_BACK, name: 'back' });
  r.setTask(WEB_TASK, WEB);
  for (let i = 1; i <= 3; i++) r.setTask(dbTask(i), DB);
  for (let i = 0; i < BIG_DNSRR_TASKS; i++) {
    r.setTask({ id: `b${i}`, serviceId: 'svc-big', name: `big.${i}.b${i}`, healthy: true, networks: [{ networkId: NET_BACK, addresses: [`10.21.${i >> 8}.${i & 255}`] }] }, BIG);
  }
  const front = await sandbox(cleanup, dns, 'sb-front', [NET_FRONT]);
  const back = await sandbox(cleanup, dns, 'sb-back', [NET_BACK]);
  const both = await sandbox(cleanup, dns, 'sb-both', [NET_FRONT, NET_BACK]);
  ctx = { cleanup, dns, front, back, both, upstreamSeen, upstreamAddress };
});

test.after.always(async () => {
  await ctx?.cleanup.run();
});

// ---- dig ----

interface Dig {
  status: string;
  flags: string[];
  answers: Array<{ name: string; ttl: number; type: string; data: string }>;
  additional: Array<{ name: string; type: string; data: string }>;
  /** dig's "Query time": from sending the query to its answer. */
  ms: number;
}

/**
 * Digs running at once. The server answers on this process's event loop, and Node forks each
 * child on that same loop: ~30 concurrent tests spawning at once on a loaded 2-core machine
 * kept the loop forking for longer than dig's 3 s timeout (every early dig timed out).
 */
const MAX_CONCURRENT_DIGS = 4;
let digsRunning = 0;
const digsWaiting: Array<() => void> = [];

async function dig(sb: Sandbox, args: string[]): Promise<Dig> {
  while (digsRunning >= MAX_CONCURRENT_DIGS) await new Promise<void>((r) => digsWaiting.push(r));
  digsRunning++;
  try {
    return await digOnce(sb, args);
  } finally {
    digsRunning--;
    digsWaiting.shift()?.();
  }
}

async function digOnce(sb: Sandbox, args: string[]): Promise<Dig> {
  const { stdout } = await run('nsenter', [`--net=${sb.path}`, 'dig', ...DIG_ARGS, '+noall', '+comments', '+answer', '+additional', '+stats', ...args]);
  // dig's own query time (sent to answered): the wall time would add spawning nsenter and dig.
  const ms = Number(/;; Query time: (\d+) msec/.exec(stdout)?.[1] ?? NaN);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const records = (section: string) => {
    const at = stdout.indexOf(`;; ${section} SECTION:`);
    if (at < 0) return [];
    const lines = stdout.slice(at).split('\n').slice(1);
    const end = lines.findIndex((l) => l.trim() === '');
    return lines
      .slice(0, end < 0 ? undefined : end)
      .filter((l) => !l.startsWith(';'))
      .map((l) => l.split(/\s+/))
      .filter((p) => p.length >= 5 && p[3] !== 'OPT')
      .map((p) => ({ name: p[0]!.replace(/\.$/, ''), ttl: Number(p[1]), type: p[3]!, data: p.slice(4).join(' ').replace(/\.$/, '') }));
  };
  return { status, flags, answers: records('ANSWER').filter((r) => r.type !== 'OPT'), additional: records('ADDITIONAL'), ms };
}

const datas = (d: Dig) => d.answers.map((a) => a.data).sort();

// ---- names ----

const NAME_FORMS: Array<[string, () => Sandbox, string[], string, string[]]> = [
  ['service name → VIP', () => ctx.front, ['web'], 'NOERROR', ['10.10.0.2']],
  ['service alias → VIP', () => ctx.front, ['www'], 'NOERROR', ['10.10.0.2']],
  ['service AAAA → IPv6 VIP', () => ctx.front, ['web', 'AAAA'], 'NOERROR', ['fd10::2']],
  ['tasks.<service> → task IPs', () => ctx.front, ['tasks.web'], 'NOERROR', ['10.10.0.11']],
  ['task name → task IP', () => ctx.front, ['web.1.w1abc'], 'NOERROR', ['10.10.0.11']],
  ['container name → task IP', () => ctx.front, ['web-ctr'], 'NOERROR', ['10.10.0.11']],
  ['hostname → task IP', () => ctx.front, ['webhost'], 'NOERROR', ['10.10.0.11']],
  ['network alias → task IP', () => ctx.front, ['frontdoor'], 'NOERROR', ['10.10.0.11']],
  ['qualified <service>.<network>', () => ctx.front, ['web.front'], 'NOERROR', ['10.10.0.2']],
  ['qualified tasks.<service>.<network>', () => ctx.back, ['tasks.db.back'], 'NOERROR', ['10.20.0.21', '10.20.0.22', '10.20.0.23']],
  ['qualified task name', () => ctx.front, ['web.1.w1abc.front'], 'NOERROR', ['10.10.0.11']],
  ['dnsrr service → all task IPs', () => ctx.back, ['db'], 'NOERROR', ['10.20.0.21', '10.20.0.22', '10.20.0.23']],
  ['dnsrr AAAA: NODATA', () => ctx.back, ['db', 'AAAA'], 'NOERROR', []],
  ['an existing name without MX: NODATA', () => ctx.front, ['web', 'MX'], 'NOERROR', []],
  ['unknown name in an attached network: NXDOMAIN', () => ctx.front, ['nope.front'], 'NXDOMAIN', []],
  ['PTR of a task IP → <task>.<network>', () => ctx.front, ['-x', '10.10.0.11'], 'NOERROR', ['web.1.w1abc.front']],
  ['PTR of a VIP → <service>.<network>', () => ctx.front, ['-x', '10.10.0.2'], 'NOERROR', ['web.front']],
  ['PTR of an IPv6 task IP', () => ctx.front, ['-x', 'fd10::11'], 'NOERROR', ['web.1.w1abc.front']],
  ['scoped: a front service from the back sandbox does not exist', () => ctx.back, ['web'], 'NXDOMAIN', []],
  ['scoped: a back service from the front sandbox does not exist', () => ctx.front, ['db'], 'NXDOMAIN', []],
  ['scoped: front PTR from the back sandbox is not answered', () => ctx.back, ['-x', '10.10.0.11'], 'NXDOMAIN', []],
  ['two networks: front name', () => ctx.both, ['web'], 'NOERROR', ['10.10.0.2']],
  ['two networks: back name', () => ctx.both, ['db.2.d2'], 'NOERROR', ['10.20.0.22']],
  ['two networks: qualified on the wrong one', () => ctx.both, ['web.back'], 'NXDOMAIN', []],
  ['TCP', () => ctx.front, ['+tcp', 'tasks.web'], 'NOERROR', ['10.10.0.11']],
  ['forwarded: an external name from the test upstream', () => ctx.front, ['www.example.test'], 'NOERROR', [UPSTREAM_A]],
  ['forwarded over TCP', () => ctx.back, ['+tcp', 'www.example.test'], 'NOERROR', [UPSTREAM_A]],
];

for (const [what, sb, args, status, expected] of NAME_FORMS) {
  test(`dig ${args.join(' ')}: ${what}`, async (t) => {
    const d = await dig(sb(), args);
    t.is(d.status, status);
    t.deepEqual(datas(d), expected);
    if (status === 'NOERROR' && expected.length > 0 && !d.flags.includes('aa')) t.is(args.at(-1), 'www.example.test', 'local answers are authoritative');
  });
}

test('TTLs: 600 for VIPs (as Docker), 30 for task addresses', async (t) => {
  t.is((await dig(ctx.front, ['web'])).answers[0]?.ttl, 600);
  t.is((await dig(ctx.front, ['tasks.web'])).answers[0]?.ttl, 30);
});

test('SRV for a published port: task targets, addresses in the additional section', async (t) => {
  const d = await dig(ctx.front, ['_http._tcp.web', 'SRV']);
  t.deepEqual(datas(d), ['0 0 8080 web.1.w1abc']);
  t.deepEqual(d.additional.map((a) => [a.name, a.type, a.data]).sort(), [['web.1.w1abc', 'A', '10.10.0.11'], ['web.1.w1abc', 'AAAA', 'fd10::11']]);
});

test('dnsrr rotates: the order changes between queries', async (t) => {
  const orders = new Set<string>();
  for (let i = 0; i < ROTATION_QUERIES; i++) orders.add((await dig(ctx.back, ['db'])).answers.map((a) => a.data).join(','));
  t.true(orders.size >= 3, `${orders.size} distinct orders in ${ROTATION_QUERIES} queries`);
});

test('a dnsrr answer too big for 512 bytes: TC over UDP, all of it over TCP', async (t) => {
  const udp = await dig(ctx.back, ['+noedns', '+ignore', 'big']);
  t.true(udp.flags.includes('tc'), `flags ${udp.flags.join(' ')}`);
  t.true(udp.answers.length > 0 && udp.answers.length < BIG_DNSRR_TASKS);
  const full = await dig(ctx.back, ['+noedns', 'big']);
  t.is(full.answers.length, BIG_DNSRR_TASKS);
});

test('forwarded: an upstream TC answer is retried over TCP and relayed (TC to the UDP client, then TCP)', async (t) => {
  const d = await dig(ctx.front, ['big.example.test']);
  t.is(d.status, 'NOERROR');
  t.is(d.answers.length, UPSTREAM_BIG_ANSWERS);
  t.true(ctx.dns.forwarder.stats().tcpFallbacks >= 1);
});

test.serial('forwarded: names berth does not own reach the upstream; local names never do', async (t) => {
  const before = ctx.upstreamSeen.length;
  await dig(ctx.front, ['web']);
  await dig(ctx.front, ['nope.front']);
  t.is(ctx.upstreamSeen.length, before);
  await dig(ctx.back, ['web']);
  t.deepEqual(ctx.upstreamSeen.slice(before), ['web']);
});

test.serial('updates: a new task resolves at once; removed, it is gone at once', async (t) => {
  const task = dbTask(9);
  ctx.dns.records.setTask(task, DB);
  t.deepEqual(datas(await dig(ctx.back, ['db.9.d9'])), ['10.20.0.29']);
  t.true(datas(await dig(ctx.back, ['tasks.db'])).includes('10.20.0.29'));
  ctx.dns.records.removeTask(task.id);
  t.is((await dig(ctx.back, ['db.9.d9'])).status, 'NXDOMAIN');
  t.false(datas(await dig(ctx.back, ['tasks.db'])).includes('10.20.0.29'));
});

test('upstream down: SERVFAIL within attempts × timeout, then healthy again', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  // Nothing listens on this port behind the veth: every attempt times out.
  const dead = await EmbeddedDns.create({ upstreams: [{ address: ctx.upstreamAddress, port: 5399 }], attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, attempts: ATTEMPTS });
  cleanup.add('close dead dns', () => dead.close());
  const sb = await sandbox(cleanup, dead, 'sb-dead', []);
  const d = await dig(sb, ['www.example.test']);
  t.is(d.status, 'SERVFAIL');
  t.true(d.ms < ATTEMPTS * ATTEMPT_TIMEOUT_MS + SERVFAIL_SLACK_MS, `${d.ms} ms`);
  t.true(d.ms >= ATTEMPTS * ATTEMPT_TIMEOUT_MS - 50, `${d.ms} ms: both attempts were made`);
  t.like(dead.stats().server, { servfail: 1 });
});

test('closing a sandbox closes its listeners (UDP refused at once)', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const sb = await sandbox(cleanup, ctx.dns, 'sb-short', [NET_FRONT]);
  t.deepEqual(datas(await dig(sb, ['web'])), ['10.10.0.2']);
  await ctx.dns.closeSandbox('sb-short');
  const err = await t.throwsAsync(dig(sb, ['web']));
  t.regex(err?.message ?? '', /connection refused|timed out|no servers/);
});

test.serial('kept replies: repeats are answered by the native socket, each with its own ID; a name change shows in the very next answer', async (t) => {
  const kept = (vip: string): ServiceRecord => ({ id: 'svc-kept', name: 'kept', endpointMode: 'vip', networks: [{ networkId: NET_BACK, vips: [vip] }] });
  const task: TaskRecord = { id: 'k1', serviceId: 'svc-kept', name: 'kept.1.k1', healthy: true, networks: [{ networkId: NET_BACK, addresses: ['10.20.9.11'] }] };
  t.teardown(() => ctx.dns.records.removeTask(task.id));
  // No cookie: dig's is random per run, which would make every query new.
  const digKept = () => dig(ctx.back, ['+nocookie', 'kept']);
  ctx.dns.records.setTask(task, kept('10.20.9.2'));
  t.deepEqual(datas(await digKept()), ['10.20.9.2']);
  const hitsBefore = ctx.dns.server.keptReplyHits[0]!;
  const queriesBefore = ctx.dns.stats().server.queries;
  // dig drops a reply whose ID is not its query's (and then times out).
  for (let i = 0; i < 3; i++) t.deepEqual(datas(await digKept()), ['10.20.9.2']);
  t.is(ctx.dns.server.keptReplyHits[0]! - hitsBefore, 3);
  t.is(ctx.dns.stats().server.queries - queriesBefore, 3, 'answers from kept replies count as queries');
  ctx.dns.records.setTask(task, kept('10.20.9.3'));
  t.deepEqual(datas(await digKept()), ['10.20.9.3']);
  t.deepEqual(datas(await digKept()), ['10.20.9.3']);
});

test.serial('kept replies: a dnsrr answer served by the native socket still rotates', async (t) => {
  const orders = new Set<string>();
  const hitsBefore = ctx.dns.server.keptReplyHits[0]!;
  for (let i = 0; i < ROTATION_QUERIES; i++) {
    const d = await dig(ctx.back, ['+nocookie', 'db']);
    t.deepEqual(datas(d), ['10.20.0.21', '10.20.0.22', '10.20.0.23']);
    orders.add(d.answers.map((a) => a.data).join(','));
  }
  t.true(ctx.dns.server.keptReplyHits[0]! - hitsBefore >= ROTATION_QUERIES - 1);
  t.true(orders.size >= 3, `${orders.size} distinct orders in ${ROTATION_QUERIES} queries`);
});
