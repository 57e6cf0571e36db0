// Forwarder and server against real sockets on 127.0.0.1 (no root needed): TC → TCP retry,
// timeouts → SERVFAIL, upstream health ordering, the concurrency cap and its queue, spoofed
// replies; plus resolv.conf upstream selection.
import test from 'ava';
import dgram from 'node:dgram';
import net from 'node:net';
import { Forwarder, UDP_QUERIES_PER_SOCKET } from '../../dns/forwarder.js';
import { NameTable } from '../../dns/name-table.js';
import { chooseUpstreams, hostUpstreams, isLoopback, parseResolvConf } from '../../dns/resolv-conf.js';
import { DnsServer } from '../../dns/server.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsError } from '../../dns/errors.js';
import { Flag, RCode, RRType, encodeResponse, parseQuery, type Query, type ResourceRecord } from '../../dns/wire.js';
import { encodeQuery, rcodeOf } from '../harness/dns-query.js';

// Long enough that a live upstream on loopback answers within it on a loaded 2-core machine (150 ms
// failed 7 tests at a load average of 30), short enough to keep the give-up tests quick.
const FAST_TIMEOUT_MS = 400;
const BIG_ANSWERS = 60;

type Mode = 'answer' | 'silent' | 'spoof-then-answer' | 'tc';

interface FakeUpstream {
  port: number;
  udpQueries: string[];
  tcpQueries: string[];
  mode: Mode;
  close(): Promise<void>;
}

function answerFor(msg: Buffer, q: Query, maxSize: number): Buffer {
  const n = q.name.startsWith('big.') ? BIG_ANSWERS : 1;
  const answers: ResourceRecord[] = Array.from({ length: n }, (_, i) => ({ type: RRType.A, ttl: 60, address: Uint8Array.from([192, 0, 2, i + 1]) }));
  return encodeResponse(msg, q, { rcode: 0, authoritative: true, answers, maxSize });
}

/** An authoritative server for everything on 127.0.0.1 (UDP and TCP on one port). The UDP
 *  port is the kernel's pick; when another process holds that port for TCP, pick again. */
async function fakeUpstream(mode: Mode): Promise<FakeUpstream> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fakeUpstreamOnce(mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
    }
  }
}

async function fakeUpstreamOnce(mode: Mode): Promise<FakeUpstream> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = udp.address().port;
  const self: FakeUpstream = {
    port,
    udpQueries: [],
    tcpQueries: [],
    mode,
    close: () => new Promise<void>((r) => {
      tcp.close(() => r());
      udp.close();
    }),
  };
  udp.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    if (typeof q === 'string') return;
    self.udpQueries.push(q.name);
    const reply = (b: Buffer) => udp.send(b, rinfo.port, rinfo.address);
    switch (self.mode) {
      case 'silent':
        return;
      case 'spoof-then-answer': {
        const other = encodeQuery(q.id, 'evil.example', RRType.A);
        reply(answerFor(other, parseQuery(other) as Query, 512));
        return reply(answerFor(msg, q, 512));
      }
      case 'tc':
        return reply(answerFor(msg, q, 512));
      case 'answer':
        return reply(answerFor(msg, q, 65535));
    }
  });
  const tcp = net.createServer((c) => {
    c.on('error', () => undefined);
    c.once('data', (d: Buffer) => {
      const msg = d.subarray(2, 2 + d.readUInt16BE(0));
      const q = parseQuery(msg);
      if (typeof q === 'string' || self.mode === 'silent') return;
      self.tcpQueries.push(q.name);
      const r = answerFor(msg, q, 65535);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(r.length);
      c.end(Buffer.concat([len, r]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', (err) => {
      udp.close();
      reject(err);
    });
    tcp.listen(port, '127.0.0.1', () => resolve());
  });
  return self;
}

function q(name: string, type: number = RRType.A, edns?: number): { msg: Buffer; q: Query } {
  const msg = encodeQuery(0xbeef, name, type, edns ? { edns } : {});
  return { msg, q: parseQuery(msg) as Query };
}

test('forwards over UDP; the reply matches the question', async (t) => {
  const up = await fakeUpstream('answer');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('www.example.test');
  const reply = await fwd.forward(msg, query.questionEnd, false);
  t.truthy(reply);
  t.is(rcodeOf(reply!), 0);
  t.deepEqual(up.udpQueries, ['www.example.test']);
  t.like(fwd.stats(), { forwarded: 1, answered: 1, failed: 0, inFlight: 0 });
});

test('a truncated UDP reply is retried over TCP', async (t) => {
  const up = await fakeUpstream('tc');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('big.example.test');
  const reply = await fwd.forward(msg, query.questionEnd, false);
  t.is(reply!.readUInt16BE(2) & Flag.TC, 0);
  t.is(reply!.readUInt16BE(6), BIG_ANSWERS);
  t.deepEqual(up.tcpQueries, ['big.example.test']);
  t.is(fwd.stats().tcpFallbacks, 1);
});

test('TCP clients are forwarded over TCP', async (t) => {
  const up = await fakeUpstream('answer');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('x.example.test');
  t.truthy(await fwd.forward(msg, query.questionEnd, true));
  t.deepEqual(up.udpQueries, []);
  t.deepEqual(up.tcpQueries, ['x.example.test']);
});

test('a silent upstream: undefined after attempts × timeout, never a hang', async (t) => {
  const up = await fakeUpstream('silent');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], attemptTimeoutMs: FAST_TIMEOUT_MS, attempts: 2 });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('x.example.test');
  const t0 = Date.now();
  t.is(await fwd.forward(msg, query.questionEnd, false), undefined);
  const ms = Date.now() - t0;
  t.true(ms >= 2 * FAST_TIMEOUT_MS - 10 && ms < 3 * FAST_TIMEOUT_MS, `${ms} ms`);
  t.is(up.udpQueries.length, 2);
  t.like(fwd.stats(), { timeouts: 2, failed: 1 });
  t.is(fwd.health()[0]!.consecutiveFailures, 2);
});

test('a failed upstream is tried last until its backoff expires', async (t) => {
  const dead = await fakeUpstream('silent');
  const live = await fakeUpstream('answer');
  t.teardown(() => Promise.all([dead.close(), live.close()]));
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: dead.port }, { address: '127.0.0.1', port: live.port }], attemptTimeoutMs: FAST_TIMEOUT_MS });
  t.teardown(() => fwd.close());
  const first = q('a.example.test');
  t.truthy(await fwd.forward(first.msg, first.q.questionEnd, false), 'the second upstream answers the retry');
  t.is(dead.udpQueries.length, 1);
  const t0 = Date.now();
  const second = q('b.example.test');
  t.truthy(await fwd.forward(second.msg, second.q.questionEnd, false));
  t.true(Date.now() - t0 < FAST_TIMEOUT_MS, 'went straight to the live upstream');
  t.is(dead.udpQueries.length, 1);
  t.deepEqual(live.udpQueries, ['a.example.test', 'b.example.test']);
});

test('replies with a foreign question are ignored and counted', async (t) => {
  const up = await fakeUpstream('spoof-then-answer');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('good.example.test');
  const reply = await fwd.forward(msg, query.questionEnd, false);
  t.is((parseQuery(Buffer.from(reply!).fill(0, 2, 4)) as Query).name, 'good.example.test');
  t.is(fwd.stats().unmatched, 1);
});

test('concurrency cap: in flight up to the cap, then queued, then refused at once', async (t) => {
  const up = await fakeUpstream('silent');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], attemptTimeoutMs: FAST_TIMEOUT_MS, attempts: 1, maxInFlight: 2, maxQueued: 2 });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('x.example.test');
  const t0 = Date.now();
  const all = Array.from({ length: 5 }, () => fwd.forward(msg, query.questionEnd, false));
  t.like(fwd.stats(), { inFlight: 2, queued: 2, overflow: 1 });
  t.is(await all[4], undefined);
  t.true(Date.now() - t0 < FAST_TIMEOUT_MS / 2, 'the overflow is refused without waiting');
  t.deepEqual(await Promise.all(all), [undefined, undefined, undefined, undefined, undefined]);
  t.like(fwd.stats(), { inFlight: 0, queued: 0, failed: 5 });
});

test('close() settles everything pending', async (t) => {
  const up = await fakeUpstream('silent');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], attemptTimeoutMs: 10_000 });
  const { msg, q: query } = q('x.example.test');
  const p = fwd.forward(msg, query.questionEnd, false);
  await new Promise((r) => setTimeout(r, 20));
  fwd.close();
  t.is(await p, undefined);
});

// ---- the server in front of it ----

function server(fwd?: Forwarder): DnsServer {
  const table = new NameTable();
  table.setNetwork({ id: 'n', name: 'net' });
  table.setService({ id: 's', name: 'web', endpointMode: 'vip', networks: [{ networkId: 'n', vips: ['10.0.0.2'] }] });
  table.setSandbox({ id: 'sb', networkIds: ['n'] });
  return new DnsServer({ names: table, forwarder: fwd });
}

test('server: local answers are synchronous buffers with the client id', (t) => {
  const { msg } = q('WEB');
  const r = server().handle(msg, 'sb', 'udp');
  t.true(Buffer.isBuffer(r));
  t.is((r as Buffer).readUInt16BE(0), 0xbeef);
  t.is((r as Buffer).readUInt16BE(6), 1);
});

test('server: forwarded replies get the client id back; big ones are truncated for UDP', async (t) => {
  const up = await fakeUpstream('answer');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const s = server(fwd);
  const small = await s.handle(q('a.example.test').msg, 'sb', 'udp');
  t.is(small!.readUInt16BE(0), 0xbeef);
  t.is(small!.readUInt16BE(6), 1);
  const big = await s.handle(q('big.example.test').msg, 'sb', 'udp');
  t.true(big!.length <= 512);
  t.is(big!.readUInt16BE(2) & Flag.TC, Flag.TC);
  const bigTcp = await s.handle(q('big.example.test').msg, 'sb', 'tcp');
  t.is(bigTcp!.readUInt16BE(6), BIG_ANSWERS);
  const bigEdns = await s.handle(q('big.example.test', RRType.A, 4096).msg, 'sb', 'udp');
  t.is(bigEdns!.readUInt16BE(6), BIG_ANSWERS);
  t.like(s.stats(), { forwarded: 4, truncated: 1, servfail: 0 });
});

test('server: SERVFAIL without a forwarder; NOTIMP for other opcodes; BADVERS for EDNS > 0; malformed dropped and counted', async (t) => {
  const s = server();
  t.is(rcodeOf((await s.handle(q('example.test').msg, 'sb', 'udp'))!), RCode.SERVFAIL);
  const notify = q('web').msg;
  notify.writeUInt16BE(4 << 11, 2);
  t.is(rcodeOf(s.handle(notify, 'sb', 'udp') as Buffer), RCode.NOTIMP);
  const v1 = q('web', RRType.A, 1232).msg;
  v1.writeUInt8(1, v1.length - 5);
  const bv = s.handle(v1, 'sb', 'udp') as Buffer;
  t.is(bv.readUInt8(bv.length - 6), 1);
  t.is(s.handle(Buffer.from('garbage!'), 'sb', 'udp'), undefined);
  t.is(s.handle(Buffer.alloc(40), 'sb', 'udp'), undefined);
  t.like(s.stats(), { servfail: 1, notimp: 1, badvers: 1 });
  t.is(s.malformedCount(), 2);
  t.like(s.stats().malformed, { 'short-header': 1, 'question-count': 1 });
});

// ---- resolv.conf ----

test('parseResolvConf: nameservers (with zones), search, options; comments ignored', (t) => {
  const c = parseResolvConf('# generated\nnameserver 10.0.0.1\nnameserver fe80::1%eth0 ; x\nnameserver bogus\nsearch a.example b.example\noptions ndots:2 edns0\n');
  t.deepEqual(c, { nameservers: ['10.0.0.1', 'fe80::1%eth0'], search: ['a.example', 'b.example'], options: ['ndots:2', 'edns0'] });
});

test('chooseUpstreams: plain resolvers as they are; a loopback stub replaced by what is behind it', (t) => {
  const plain = parseResolvConf('nameserver 10.0.0.1\nnameserver 10.0.0.2\n');
  t.deepEqual(chooseUpstreams(plain, []).upstreams, [{ address: '10.0.0.1', port: 53 }, { address: '10.0.0.2', port: 53 }]);
  const stub = parseResolvConf('nameserver 127.0.0.53\noptions edns0 trust-ad\n');
  const behind = parseResolvConf('nameserver 192.168.1.1\nnameserver 127.0.0.1\n');
  t.deepEqual(chooseUpstreams(stub, [undefined, behind]), { upstreams: [{ address: '192.168.1.1', port: 53 }], source: 'stub-upstreams' });
  t.deepEqual(chooseUpstreams(stub, [undefined]), { upstreams: [{ address: '127.0.0.53', port: 53 }], source: 'resolv.conf' }, 'reachable from agentd\'s namespace');
  t.true(isLoopback('127.0.0.53') && isLoopback('::1') && !isLoopback('10.0.0.1'));
});

test('hostUpstreams: reads the files; none configured is E_DNS_NO_UPSTREAM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-dns-'));
  await writeFile(join(dir, 'resolv.conf'), 'nameserver 127.0.0.53\n');
  await writeFile(join(dir, 'upstreams.conf'), 'nameserver 9.9.9.9\n');
  t.deepEqual(await hostUpstreams(join(dir, 'resolv.conf'), [join(dir, 'upstreams.conf')]), [{ address: '9.9.9.9', port: 53 }]);
  await writeFile(join(dir, 'empty.conf'), '# nothing\n');
  const err = await t.throwsAsync(hostUpstreams(join(dir, 'empty.conf'), []), { instanceOf: DnsError });
  t.is(err?.code, 'E_DNS_NO_UPSTREAM');
  const missing = await t.throwsAsync(hostUpstreams(join(dir, 'missing.conf'), []), { instanceOf: DnsError });
  t.regex(missing?.message ?? '', /cannot read .*missing\.conf/);
});

// ---- spoofing: the sender is checked, the source port and the id are unpredictable ----

interface Observed {
  port: number;
  id: number;
}

/** An upstream on 127.0.0.1 that answers everything and records where each query came from. */
async function observingUpstream(onQuery?: (msg: Buffer, q: Query, rinfo: dgram.RemoteInfo, answer: () => void) => void): Promise<{ port: number; seen: Observed[]; close(): void }> {
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const seen: Observed[] = [];
  let closed = false;
  udp.on('message', (msg, rinfo) => {
    const query = parseQuery(msg);
    if (typeof query === 'string') return;
    seen.push({ port: rinfo.port, id: query.id });
    const answer = () => {
      if (!closed) udp.send(answerFor(msg, query, 512), rinfo.port, rinfo.address);
    };
    if (onQuery) onQuery(msg, query, rinfo, answer);
    else answer();
  });
  return {
    port: udp.address().port,
    seen,
    close: () => {
      closed = true;
      udp.close();
    },
  };
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}

const FORGED_A = Uint8Array.from([6, 6, 6, 6]);

/** The answer to q with the forger's address in it: right id, right question. */
function forgedAnswer(msg: Buffer, query: Query): Buffer {
  return encodeResponse(msg, query, { rcode: 0, authoritative: true, answers: [{ type: RRType.A, ttl: 60, address: FORGED_A }], maxSize: 512 });
}

const sendTo = (s: dgram.Socket, b: Buffer, port: number, address: string) => new Promise<void>((r) => s.send(b, port, address, () => r()));

test('an answer from another address or port than the upstream asked is dropped and counted; the genuine one is accepted', async (t) => {
  const forgers: dgram.Socket[] = [];
  let forged = 0;
  const up = await observingUpstream((msg, query, rinfo, answer) => {
    // Both forgers know the id, the question and the forwarder's port (the worst case); the
    // genuine answer leaves only after theirs are delivered.
    void Promise.all(forgers.map((f) => sendTo(f, forgedAnswer(msg, query), rinfo.port, rinfo.address))).then(() => {
      forged += forgers.length;
      setTimeout(answer, 50);
    });
  });
  t.teardown(() => up.close());
  // Same port on another loopback address, and another port on the upstream's own address.
  forgers.push(await bindUdp('127.0.0.2', up.port), await bindUdp('127.0.0.1', 0));
  t.teardown(() => forgers.forEach((f) => f.close()));
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('victim.example.test');
  const reply = await fwd.forward(msg, query.questionEnd, false);
  t.is(forged, 2);
  t.truthy(reply);
  t.deepEqual([...reply!.subarray(reply!.length - 4)], [192, 0, 2, 1], 'the genuine answer, not the forged 6.6.6.6');
  t.like(fwd.stats(), { wrongSource: 2, answered: 1 });
});

const SEQUENTIAL_QUERIES = 24;
/** Distinct ports expected among SEQUENTIAL_QUERIES: the kernel picks among ~28,000, so a repeat is rare but possible. */
const MIN_DISTINCT_PORTS = SEQUENTIAL_QUERIES - 3;
const BURST_QUERIES = 200;

test('source ports and ids: a fresh random port and id for queries one after another', async (t) => {
  const up = await observingUpstream();
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  for (let i = 0; i < SEQUENTIAL_QUERIES; i++) {
    const { msg, q: query } = q(`s${i}.example.test`);
    t.truthy(await fwd.forward(msg, query.questionEnd, false));
  }
  const ports = new Set(up.seen.map((s) => s.port));
  const ids = new Set(up.seen.map((s) => s.id));
  t.log(`${ports.size} ports, ${ids.size} ids in ${SEQUENTIAL_QUERIES} queries`);
  t.true(ports.size >= MIN_DISTINCT_PORTS, `${ports.size} distinct source ports: ${[...ports].join(' ')}`);
  t.true(ids.size >= MIN_DISTINCT_PORTS, `${ids.size} distinct ids`);
  t.false(ids.has(0xbeef), "the client's id never goes upstream");
});

test('source ports: a burst shares a socket among at most a few queries', async (t) => {
  const up = await observingUpstream();
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }] });
  t.teardown(() => fwd.close());
  const replies = await Promise.all(
    Array.from({ length: BURST_QUERIES }, (_, i) => {
      const { msg, q: query } = q(`b${i}.example.test`);
      return fwd.forward(msg, query.questionEnd, false);
    }),
  );
  t.true(replies.every((r) => r !== undefined));
  const perPort = new Map<number, number>();
  for (const s of up.seen) perPort.set(s.port, (perPort.get(s.port) ?? 0) + 1);
  const most = Math.max(...perPort.values());
  t.log(`${perPort.size} ports for ${BURST_QUERIES} concurrent queries, at most ${most} on one`);
  t.true(most <= UDP_QUERIES_PER_SOCKET, `${most} queries on one port`);
  t.true(perPort.size >= BURST_QUERIES / UDP_QUERIES_PER_SOCKET);
});

// ---- a fair share per sandbox ----

test('fair share: a sandbox over its share waits or is refused alone; another sandbox goes straight through', async (t) => {
  const up = await fakeUpstream('silent');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], attemptTimeoutMs: FAST_TIMEOUT_MS * 4, attempts: 1, maxInFlight: 8, maxInFlightPerSandbox: 2, maxQueuedPerSandbox: 3 });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('x.example.test');
  const noisy = Array.from({ length: 10 }, () => fwd.forward(msg, query.questionEnd, false, 'noisy'));
  t.like(fwd.stats(), { inFlight: 2, queued: 3, overShare: 5 });
  const quiet = [fwd.forward(msg, query.questionEnd, false, 'quiet'), fwd.forward(msg, query.questionEnd, false, 'quiet')];
  t.like(fwd.stats(), { inFlight: 4, queued: 3, overShare: 5 }, 'the quiet sandbox is not queued behind the noisy one');
  await Promise.all([...noisy, ...quiet]);
  t.like(fwd.stats(), { inFlight: 0, queued: 0, failed: 12 });
});

test('fair share: with the node-wide cap reached, waiting sandboxes are served in turn', async (t) => {
  const order: string[] = [];
  const up = await observingUpstream((_msg, query, _rinfo, answer) => {
    order.push(query.name.split('.')[0]!);
    setTimeout(answer, 30);
  });
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], maxInFlight: 1, maxInFlightPerSandbox: 1 });
  t.teardown(() => fwd.close());
  const ask = (sb: string, i: number) => {
    const { msg, q: query } = q(`${sb}.${i}.example.test`);
    return fwd.forward(msg, query.questionEnd, false, sb);
  };
  const all = [...Array.from({ length: 4 }, (_, i) => ask('a', i)), ask('b', 0), ask('b', 1), ask('c', 0)];
  t.true((await Promise.all(all)).every((r) => r !== undefined));
  t.deepEqual(order, ['a', 'a', 'b', 'c', 'a', 'b', 'a'], 'round robin among the waiting sandboxes');
});

test('fair share: a full node-wide queue makes room from the longest queue, never from a shorter one', async (t) => {
  const up = await fakeUpstream('silent');
  t.teardown(() => up.close());
  const fwd = new Forwarder({ upstreams: [{ address: '127.0.0.1', port: up.port }], attemptTimeoutMs: FAST_TIMEOUT_MS, attempts: 1, maxInFlight: 1, maxQueued: 4 });
  t.teardown(() => fwd.close());
  const { msg, q: query } = q('x.example.test');
  const noisy = Array.from({ length: 5 }, () => fwd.forward(msg, query.questionEnd, false, 'noisy'));
  t.like(fwd.stats(), { inFlight: 1, queued: 4, overflow: 0 });
  const quiet = fwd.forward(msg, query.questionEnd, false, 'quiet');
  let quietRefused = false;
  void quiet.then(() => (quietRefused = true));
  t.like(fwd.stats(), { queued: 4, overflow: 1 }, "the noisy sandbox's oldest waiting query gave way");
  t.is(await noisy[1], undefined);
  t.false(quietRefused, 'the quiet sandbox waits in its own queue');
  const again = fwd.forward(msg, query.questionEnd, false, 'noisy');
  t.like(fwd.stats(), { queued: 4, overflow: 2 }, 'the longest queue asking again is refused');
  t.is(await again, undefined);
  await Promise.all([...noisy, quiet]);
  t.like(fwd.stats(), { inFlight: 0, queued: 0 });
});
