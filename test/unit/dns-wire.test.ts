// The hot-path DNS codec: parsing every malformed shape, encoding checked against dns2's
// independent decoder, compression, truncation, EDNS0, and a mutation fuzz.
import test from 'ava';
import { createRequire } from 'node:module';
import {
  EDNS_UDP_MAX,
  Flag,
  HEADER_LEN,
  PLAIN_UDP_MAX,
  RCode,
  RRType,
  encodeEmpty,
  encodeResponse,
  encodeTruncated,
  parseQuery,
  replyMatches,
  udpLimit,
  type Malformed,
  type Query,
  type ResourceRecord,
} from '../../dns/wire.js';
import { encodeQuery, rcodeOf } from '../harness/dns-query.js';

interface Dns2Record {
  name: string;
  type: number;
  ttl: number;
  address?: string;
  domain?: string;
  target?: string;
  port?: number;
}
interface Dns2Packet {
  header: { id: number; qr: number; aa: number; tc: number; rd: number; ra: number; rcode: number; ancount: number; arcount: number };
  questions: Array<{ name: string; type: number; class: number }>;
  answers: Dns2Record[];
  additionals: Dns2Record[];
}
const dns2 = createRequire(import.meta.url)('dns2') as { Packet: { parse(b: Buffer): Dns2Packet } };
const decode = (b: Buffer) => dns2.Packet.parse(b);

const FUZZ_PACKETS = 200_000;
const FUZZ_SEED = 0x5eed;

function query(name: string, type: number = RRType.A, opts: { edns?: number } = {}): { msg: Buffer; q: Query } {
  const msg = encodeQuery(0x1234, name, type, opts);
  const q = parseQuery(msg);
  if (typeof q === 'string') throw new Error(`test query did not parse: ${q}`);
  return { msg, q };
}

const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
const a = (ip: string, ttl = 60): ResourceRecord => ({ type: RRType.A, ttl, address: v4(ip) });

// ---- parse ----

test('parses a query: id, flags, lower-cased name, type, class, question end', (t) => {
  const { msg, q } = query('Web.Tasks.NET1', RRType.AAAA);
  t.like(q, { id: 0x1234, opcode: 0, name: 'web.tasks.net1', plainName: true, type: RRType.AAAA, class: 1, edns: undefined });
  t.is(q.questionEnd, msg.length);
  t.is(q.flags & Flag.RD, Flag.RD);
});

test('parses the root name', (t) => {
  t.like(query('', RRType.NS).q, { name: '', plainName: true });
});

test('EDNS0: size, version, DO bit; sizes below 512 count as 512', (t) => {
  t.deepEqual(query('x', RRType.A, { edns: 1232 }).q.edns, { udpSize: 1232, version: 0, dnssecOk: false });
  t.is(query('x', RRType.A, { edns: 100 }).q.edns?.udpSize, PLAIN_UDP_MAX);
  const msg = encodeQuery(1, 'x', RRType.A, { edns: 4096 });
  msg.writeUInt32BE((1 << 16) | 0x8000, msg.length - 6);
  t.deepEqual((parseQuery(msg) as Query).edns, { udpSize: 4096, version: 1, dnssecOk: true });
});

test('udpLimit: 512 without EDNS, the client size capped by ours with it', (t) => {
  t.is(udpLimit(query('x').q), PLAIN_UDP_MAX);
  t.is(udpLimit(query('x', RRType.A, { edns: 1232 }).q), 1232);
  t.is(udpLimit(query('x', RRType.A, { edns: 65000 }).q), EDNS_UDP_MAX);
});

test('a label byte without a text form makes the name not plain (forward-only)', (t) => {
  for (const bad of [0x2e, 0x20, 0x00, 0x7f, 0x80, 0xff]) {
    const msg = encodeQuery(1, 'abc.net', RRType.A);
    msg[HEADER_LEN + 2] = bad;
    const q = parseQuery(msg);
    t.is(typeof q, 'object', `byte ${bad}`);
    t.false((q as Query).plainName, `byte ${bad}`);
  }
  t.true(query('_http._tcp.my-svc').q.plainName);
});

const MALFORMED: Array<[string, () => Buffer, Malformed]> = [
  ['empty', () => Buffer.alloc(0), 'short-header'],
  ['11 bytes', () => Buffer.alloc(11), 'short-header'],
  ['a response', () => { const m = encodeQuery(1, 'x', 1); m.writeUInt16BE(Flag.QR, 2); return m; }, 'response'],
  ['no question', () => { const m = encodeQuery(1, 'x', 1); m.writeUInt16BE(0, 4); return m; }, 'question-count'],
  ['two questions', () => { const m = encodeQuery(1, 'x', 1); m.writeUInt16BE(2, 4); return m; }, 'question-count'],
  ['name runs off the end', () => encodeQuery(1, 'abcdef', 1).subarray(0, HEADER_LEN + 4), 'bad-name'],
  ['label longer than 63', () => { const m = encodeQuery(1, 'a'.repeat(63), 1); m[HEADER_LEN] = 64; return m; }, 'bad-name'],
  ['compression pointer in the question', () => { const m = encodeQuery(1, 'x', 1); m[HEADER_LEN] = 0xc0; m[HEADER_LEN + 1] = 0x0c; return m; }, 'bad-name'],
  ['name longer than 255', () => encodeQuery(1, Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.'), 1), 'bad-name'],
  ['no type/class', () => encodeQuery(1, 'x', 1).subarray(0, -2), 'short-question'],
  ['additional count without a record', () => { const m = encodeQuery(1, 'x', 1); m.writeUInt16BE(1, 10); return m; }, 'bad-record'],
  ['record rdlength beyond the end', () => { const m = encodeQuery(1, 'x', 1, { edns: 1232 }); m.writeUInt16BE(50, m.length - 2); return m; }, 'bad-record'],
  ['two OPT records', () => { const m = encodeQuery(1, 'x', 1, { edns: 1232 }); const opt = m.subarray(m.length - 11); const d = Buffer.concat([m, opt]); d.writeUInt16BE(2, 10); return d; }, 'bad-opt'],
  ['OPT in the answer section', () => { const m = encodeQuery(1, 'x', 1, { edns: 1232 }); m.writeUInt16BE(0, 10); m.writeUInt16BE(1, 6); return m; }, 'bad-opt'],
  ['OPT not owned by the root', () => { const m = encodeQuery(1, 'x', 1, { edns: 1232 }); const opt = Buffer.from(m.subarray(m.length - 11)); const d = Buffer.concat([m.subarray(0, m.length - 11), Buffer.from([1, 0x61, 0]), opt.subarray(1)]); return d; }, 'bad-opt'],
];

for (const [what, make, reason] of MALFORMED) {
  test(`malformed: ${what} → ${reason}`, (t) => {
    t.is(parseQuery(make()), reason);
  });
}

test('records before the OPT may use compression pointers and are skipped', (t) => {
  const m = encodeQuery(1, 'x.y', 1);
  // one NS-section record owned by a pointer to the question name, empty rdata
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
  const d = Buffer.concat([m, rr]);
  d.writeUInt16BE(1, 8);
  t.like(parseQuery(d) as Query, { name: 'x.y', edns: undefined });
});

// ---- encode ----

test('A answer: owner is a pointer to the question, case of the question preserved, AA/RA/RD', (t) => {
  const { msg, q } = query('Web.NET1', RRType.A);
  const reply = encodeResponse(msg, q, { rcode: RCode.NOERROR, authoritative: true, answers: [a('10.0.0.2', 600)], maxSize: 512 });
  t.is(reply.readUInt16BE(q.questionEnd), 0xc000 | HEADER_LEN, 'answer owner compressed to the question');
  const p = decode(reply);
  t.like(p.header, { id: 0x1234, qr: 1, aa: 1, tc: 0, rd: 1, ra: 1, rcode: 0, ancount: 1, arcount: 0 });
  t.deepEqual(p.questions.map((x) => ({ ...x })), [{ name: 'Web.NET1', type: RRType.A, class: 1 }]);
  t.like(p.answers[0], { name: 'Web.NET1', type: RRType.A, ttl: 600, address: '10.0.0.2' });
  t.true(replyMatches(reply, msg, q.questionEnd));
});

test('AAAA, PTR and SRV records decode; SRV targets and their additionals are compressed', (t) => {
  const { msg, q } = query('_http._tcp.web', RRType.SRV);
  const v6 = Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), 1]);
  const reply = encodeResponse(msg, q, {
    rcode: 0,
    authoritative: true,
    answers: [{ type: RRType.SRV, ttl: 30, priority: 0, weight: 0, port: 80, target: 'web.1.abc.net1' }, { type: RRType.SRV, ttl: 30, priority: 0, weight: 0, port: 80, target: 'web.2.def.net1' }],
    additionals: [{ type: RRType.A, name: 'web.1.abc.net1', ttl: 30, address: v4('10.0.0.5') }, { type: RRType.AAAA, name: 'web.2.def.net1', ttl: 30, address: v6 }],
    maxSize: 4096,
  });
  const p = decode(reply);
  t.deepEqual(p.answers.map((r) => [r.target, r.port]), [['web.1.abc.net1', 80], ['web.2.def.net1', 80]]);
  t.deepEqual(p.additionals.map((r) => [r.name, r.address]), [['web.1.abc.net1', '10.0.0.5'], ['web.2.def.net1', 'fd00::1']]);
  // Every additional owner is a 2-byte pointer to the target written in the answers.
  const uncompressed = 2 * (1 + 'web.1.abc.net1'.length + 1);
  t.true(reply.length < 12 + (q.questionEnd - 12) + 2 * (12 + 6 + uncompressed) + 2 * (2 + 10 + 4), `reply of ${reply.length} bytes is compressed`);
  const ptr = query('2.0.0.10.in-addr.arpa', RRType.PTR);
  const pr = decode(encodeResponse(ptr.msg, ptr.q, { rcode: 0, authoritative: true, answers: [{ type: RRType.PTR, ttl: 600, target: 'web.net1' }], maxSize: 512 }));
  t.like(pr.answers[0], { type: RRType.PTR, domain: 'web.net1', ttl: 600 });
});

test('UDP limit: answers cut at a record boundary with TC; EDNS size lets them all through', (t) => {
  const answers = Array.from({ length: 100 }, (_, i) => a(`10.0.${i >> 8}.${i & 255}`));
  const plain = query('tasks.big');
  const cut = encodeResponse(plain.msg, plain.q, { rcode: 0, authoritative: true, answers, maxSize: udpLimit(plain.q) });
  t.true(cut.length <= PLAIN_UDP_MAX);
  const p = decode(cut);
  t.is(p.header.tc, 1);
  t.is(p.header.ancount, Math.floor((PLAIN_UDP_MAX - plain.q.questionEnd) / 16));
  t.is(p.answers.length, p.header.ancount);

  const edns = query('tasks.big', RRType.A, { edns: 4096 });
  const full = decode(encodeResponse(edns.msg, edns.q, { rcode: 0, authoritative: true, answers, maxSize: udpLimit(edns.q) }));
  t.is(full.header.tc, 0);
  t.is(full.answers.length, 100);
  t.is(full.additionals.at(-1)?.type, RRType.OPT, 'the OPT record is always last and present');
});

test('UDP limit: the OPT record always fits, even when it pushes answers out', (t) => {
  const edns = query('tasks.big', RRType.A, { edns: 512 });
  const answers = Array.from({ length: 40 }, (_, i) => a(`10.1.0.${i}`));
  const reply = encodeResponse(edns.msg, edns.q, { rcode: 0, authoritative: true, answers, maxSize: udpLimit(edns.q) });
  t.true(reply.length <= 512);
  const p = decode(reply);
  t.is(p.header.tc, 1);
  t.is(p.additionals.length, 1);
  t.is(p.additionals[0]?.type, RRType.OPT);
});

test('UDP limit: additionals are dropped first, without TC', (t) => {
  const { msg, q } = query('_x._tcp.s', RRType.SRV);
  const answers: ResourceRecord[] = [{ type: RRType.SRV, ttl: 1, priority: 0, weight: 0, port: 1, target: 'a.b' }];
  const additionals = Array.from({ length: 60 }, () => ({ ...a('10.0.0.1'), name: 'a.b' }));
  const p = decode(encodeResponse(msg, q, { rcode: 0, authoritative: true, answers, additionals, maxSize: 512 }));
  t.is(p.header.tc, 0);
  t.is(p.answers.length, 1);
  t.true(p.additionals.length > 0 && p.additionals.length < 60);
});

test('empty replies: NXDOMAIN, SERVFAIL; BADVERS carries its upper bits in OPT', (t) => {
  const { msg, q } = query('nope.net1', RRType.A, { edns: 1232 });
  const nx = encodeEmpty(msg, q, RCode.NXDOMAIN, true);
  t.like(decode(nx).header, { rcode: RCode.NXDOMAIN, aa: 1, ancount: 0 });
  t.is(rcodeOf(encodeEmpty(msg, q, RCode.SERVFAIL)), RCode.SERVFAIL);
  const bv = encodeEmpty(msg, q, RCode.BADVERS);
  t.is(rcodeOf(bv), 0, 'lower 4 bits of 16');
  t.is(bv.readUInt8(bv.length - 6), 1, 'extended rcode octet of the OPT TTL');
});

test('encodeTruncated: upstream rcode, TC, the question and OPT only', (t) => {
  const { msg, q } = query('big.example', RRType.TXT, { edns: 1232 });
  const upstream = Buffer.from(encodeEmpty(msg, q, RCode.NXDOMAIN));
  const r = decode(encodeTruncated(msg, q, upstream));
  t.like(r.header, { tc: 1, rcode: RCode.NXDOMAIN, ancount: 0, id: 0x1234 });
  t.deepEqual(r.questions.map((x) => ({ ...x })), [{ name: 'big.example', type: RRType.TXT, class: 1 }]);
});

test('replyMatches: id aside, the question must be byte-identical', (t) => {
  const { msg, q } = query('MiXeD.example');
  const good = encodeEmpty(msg, q, 0);
  t.true(replyMatches(good, msg, q.questionEnd));
  const other = query('mixed.example');
  t.false(replyMatches(encodeEmpty(other.msg, other.q, 0), msg, q.questionEnd), '0x20 case must match');
  t.false(replyMatches(msg, msg, q.questionEnd), 'a query is not a reply');
});

// ---- fuzz ----

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

test(`fuzz: ${FUZZ_PACKETS} random and mutated packets never throw; survivors re-encode`, (t) => {
  const rnd = xorshift(FUZZ_SEED);
  const seeds = [encodeQuery(1, 'web.net1', RRType.A), encodeQuery(2, '_http._tcp.web', RRType.SRV, { edns: 1232 }), encodeQuery(3, '1.0.0.10.in-addr.arpa', RRType.PTR)];
  let parsed = 0;
  for (let i = 0; i < FUZZ_PACKETS; i++) {
    let m: Buffer;
    if (i % 4 === 0) {
      m = Buffer.alloc(rnd() % 300);
      for (let j = 0; j < m.length; j++) m[j] = rnd() & 0xff;
    } else {
      m = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 1 + (rnd() % 4); k > 0; k--) m[rnd() % m.length] = rnd() & 0xff;
      if (rnd() % 5 === 0) m = m.subarray(0, rnd() % m.length);
    }
    const q = parseQuery(m);
    if (typeof q !== 'string') {
      parsed++;
      const r = encodeResponse(m, q, { rcode: 0, authoritative: true, answers: [a('10.0.0.1')], maxSize: udpLimit(q) });
      if (r.length > udpLimit(q)) t.fail(`reply of ${r.length} bytes over the limit`);
    }
  }
  t.true(parsed > FUZZ_PACKETS / 10, `${parsed} mutated packets still parsed`);
});
