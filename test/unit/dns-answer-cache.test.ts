// The DnsServer's answer cache: a repeated query gets a byte-identical reply (but its own ID)
// without being parsed again; any change to the name table, another sandbox, another
// transport is never served from it; multi-address answers stay shuffled.
import test from 'ava';
import { createRequire } from 'node:module';
import { NameTable } from '../../dns/name-table.js';
import { ANSWER_CACHE_MAX, DnsServer } from '../../dns/server.js';
import { RRType } from '../../dns/wire.js';

const dns2 = createRequire(import.meta.url)('dns2') as {
  Packet: { new (): { header: { id: number; rd: number }; questions: unknown[]; toBuffer(): Buffer }; parse(b: Buffer): { header: { id: number; rcode: number }; answers: Array<{ address?: string }> }; TYPE: Record<string, number>; CLASS: Record<string, number> };
};

const NET = 'n1';
const SB = 'sb1';

function query(name: string, id: number, type: number = RRType.A): Buffer {
  const p = new dns2.Packet();
  p.header.id = id;
  p.header.rd = 1;
  p.questions.push({ name, type, class: 1 });
  return p.toBuffer();
}

function setup() {
  const table = new NameTable();
  table.setNetwork({ id: NET, name: 'appnet' });
  table.setSandbox({ id: SB, networkIds: [NET] });
  table.setSandbox({ id: 'sb2', networkIds: [NET] });
  table.setService({ id: 's', name: 'web', endpointMode: 'vip', networks: [{ networkId: NET, vips: ['10.9.0.2'] }] });
  table.setTask({ id: 'a', serviceId: 's', name: 'web.1.a', healthy: true, networks: [{ networkId: NET, addresses: ['10.9.0.5'] }] });
  table.setTask({ id: 'b', serviceId: 's', name: 'web.2.b', healthy: true, networks: [{ networkId: NET, addresses: ['10.9.0.6'] }] });
  return { table, server: new DnsServer({ names: table }) };
}

const answer = (b: Buffer | Promise<Buffer> | undefined) => {
  if (!(b instanceof Buffer)) throw new Error('expected a local answer');
  return b;
};

test('a repeated query is answered from the cache: same bytes, its own ID', (t) => {
  const { server } = setup();
  const first = answer(server.handle(query('web', 1), SB, 'udp'));
  t.is(server.cachedAnswers(), 1);
  const again = answer(server.handle(query('web', 0xbeef), SB, 'udp'));
  t.is(dns2.Packet.parse(again).header.id, 0xbeef);
  t.deepEqual(again.subarray(2), first.subarray(2));
  t.is(dns2.Packet.parse(again).answers[0]!.address, '10.9.0.2');
  t.is(server.stats().local, 2);
  t.is(server.stats().queries, 2);
  // The cached copy is not the buffer handed out: a caller scribbling on its reply changes nothing.
  again.fill(0);
  t.deepEqual(answer(server.handle(query('web', 1), SB, 'udp')), first);
});

test('a table change makes cached answers stale at once', (t) => {
  const { table, server } = setup();
  t.is(dns2.Packet.parse(answer(server.handle(query('web.1.a', 1), SB, 'udp'))).answers[0]!.address, '10.9.0.5');
  table.setTask({ id: 'a', serviceId: 's', name: 'web.1.a', healthy: true, networks: [{ networkId: NET, addresses: ['10.9.0.7'] }] });
  t.is(dns2.Packet.parse(answer(server.handle(query('web.1.a', 2), SB, 'udp'))).answers[0]!.address, '10.9.0.7');
  answer(server.handle(query('web.1.a.appnet', 3), SB, 'udp'));
  table.removeTask('a');
  t.true(server.handle(query('web.1.a', 4), SB, 'udp') instanceof Promise, 'once removed, not ours: forwarded');
  t.is(dns2.Packet.parse(answer(server.handle(query('web.1.a.appnet', 3), SB, 'udp'))).header.rcode, 3, 'NXDOMAIN in the network\'s own domain');
});

test('the key holds the sandbox and the transport', (t) => {
  const { table, server } = setup();
  server.handle(query('web', 1), SB, 'udp');
  server.handle(query('web', 1), 'sb2', 'udp');
  server.handle(query('web', 1), SB, 'tcp');
  t.is(server.cachedAnswers(), 3);
  table.removeSandbox('sb2');
  t.is(server.handle(query('web', 1), 'sb2', 'udp') instanceof Promise, true, 'a sandbox gone from the table is forwarded, not answered from the cache');
});

test('a multi-address answer is cached and still shuffled per query, every order possible', (t) => {
  const { table, server } = setup();
  table.setTask({ id: 'c', serviceId: 's', name: 'web.3.c', healthy: true, networks: [{ networkId: NET, addresses: ['10.9.0.8'] }] });
  const addrs = (b: Buffer) => dns2.Packet.parse(b).answers.map((a) => a.address!);
  const first = addrs(answer(server.handle(query('tasks.web', 1), SB, 'udp')));
  t.deepEqual([...first].sort(), ['10.9.0.5', '10.9.0.6', '10.9.0.8']);
  const cached = server.cachedAnswers();
  const orders = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const got = addrs(answer(server.handle(query('tasks.web', i), SB, 'udp')));
    t.deepEqual([...got].sort(), ['10.9.0.5', '10.9.0.6', '10.9.0.8']);
    orders.add(got.join());
  }
  t.is(server.cachedAnswers(), cached, 'served from the cache');
  t.is(orders.size, 6, 'all 3! orders seen');
  // A and AAAA mixed (ANY) differ in more than the address: not cached.
  table.setTask({ id: 'd', serviceId: 's', name: 'web.4.d', healthy: true, networks: [{ networkId: NET, addresses: ['fd00::9'] }] });
  const before = server.cachedAnswers();
  answer(server.handle(query('tasks.web', 7, RRType.ANY), SB, 'udp'));
  t.is(server.cachedAnswers(), before);
});

test('the cache is bounded', (t) => {
  const { server } = setup();
  for (let i = 0; i < ANSWER_CACHE_MAX + 10; i++) server.handle(query(`n${i}.appnet`, i & 0xffff), SB, 'udp');
  t.true(server.cachedAnswers() <= ANSWER_CACHE_MAX);
  t.true(server.cachedAnswers() > 0);
});

test('SRV answers from the cache keep each target with its own address in the additionals', (t) => {
  const { table, server } = setup();
  table.setService({ id: 's', name: 'web', endpointMode: 'vip', networks: [{ networkId: NET, vips: ['10.9.0.2'] }], ports: [{ name: 'http', protocol: 'tcp', targetPort: 8080 }] });
  table.setTask({ id: 'c', serviceId: 's', name: 'web.3.c', healthy: true, networks: [{ networkId: NET, addresses: ['10.9.0.8'] }] });
  const want = new Map([['web.1.a', '10.9.0.5'], ['web.2.b', '10.9.0.6'], ['web.3.c', '10.9.0.8']]);
  const glue = (b: Buffer) => {
    const p = dns2.Packet.parse(b) as unknown as { answers: Array<{ target: string }>; additionals: Array<{ name: string; address?: string }> };
    t.deepEqual(p.answers.map((a) => a.target).sort(), [...want.keys()]);
    return p.additionals.filter((a) => a.address !== undefined).map((a) => `${a.name}=${a.address}`).sort();
  };
  const expected = [...want].map(([n, a]) => `${n}=${a}`);
  for (let i = 0; i < 50; i++) t.deepEqual(glue(answer(server.handle(query('_http._tcp.web', i, RRType.SRV), SB, 'udp'))), expected);
});

test('a reply cut to fit (TC) is not cached: every task can still be in the part that fits', (t) => {
  const { table, server } = setup();
  for (let i = 0; i < 60; i++) table.setTask({ id: `x${i}`, serviceId: 's', name: `web.${i + 10}.x${i}`, healthy: true, networks: [{ networkId: NET, addresses: [`10.9.1.${i}`] }] });
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const p = dns2.Packet.parse(answer(server.handle(query('tasks.web', i), SB, 'udp')));
    t.true(p.answers.length > 0 && p.answers.length < 62, 'cut to 512 bytes');
    for (const a of p.answers) seen.add(a.address!);
  }
  t.is(server.cachedAnswers(), 0);
  t.true(seen.size > 40, `more addresses than one cut holds, got ${seen.size}`);
});

test('keptAnswer: what a listener may serve by itself, only while the names are unchanged', (t) => {
  const { table, server } = setup();
  t.is(server.keptAnswer(query('web', 1), SB, 'udp'), undefined, 'nothing kept before the first answer');
  const first = answer(server.handle(query('web', 1), SB, 'udp'));
  const kept = server.keptAnswer(query('web', 0x1234), SB, 'udp');
  t.deepEqual(kept?.reply, first);
  t.is(kept?.generation, table.generation);
  t.is(kept?.rdataOffsets, undefined, 'one address: nothing to shuffle');
  t.is(server.keptAnswer(query('web', 1), 'sb2', 'udp'), undefined, 'another sandbox');
  t.is(server.keptAnswer(query('web', 1), SB, 'tcp'), undefined, 'another transport');
  answer(server.handle(query('tasks.web', 2), SB, 'udp'));
  const multi = server.keptAnswer(query('tasks.web', 3), SB, 'udp');
  t.is(multi?.rdataOffsets?.length, 2);
  t.is(multi?.rdataLength, 4);
  t.deepEqual([...multi!.rdataOffsets!].map((o) => [...multi!.reply.subarray(o, o + 4)].join('.')).sort(), ['10.9.0.5', '10.9.0.6']);
  table.setTask({ id: 'b', serviceId: 's', name: 'web.2.b', healthy: false, networks: [{ networkId: NET, addresses: ['10.9.0.6'] }] });
  t.is(server.keptAnswer(query('web', 1), SB, 'udp'), undefined, 'stale once the table changed');
});

test('answers counted in keptReplyHits (served by a listener by itself) are local queries in stats()', (t) => {
  const { server } = setup();
  answer(server.handle(query('web', 1), SB, 'udp'));
  server.keptReplyHits[0] = server.keptReplyHits[0]! + 5;
  t.like(server.stats(), { queries: 6, local: 6, forwarded: 0 });
});
