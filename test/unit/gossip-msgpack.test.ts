// msgpack as hashicorp/go-msgpack's old codec writes it for memberlist: vectors from
// docs/research/networkdb-gossip-facts.md §1.2-1.3, size boundaries, decoding of the newer
// types, and truncation.
import test from 'ava';
import { MsgpackError, decodeMsgpack, encodeMsgpack, type MsgValue } from '../../netd/gossip/msgpack.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s).toString('hex');

test('pushPullHeader vector, keys sorted whatever order they are given in', (t) => {
  const expected = `83 a4${ascii('Join')} c3 a5${ascii('Nodes')} 02 ac${ascii('UserStateLen')} cd012c`.replace(/\s+/g, '');
  t.is(hex(encodeMsgpack({ UserStateLen: 300, Nodes: 2, Join: true })), expected);
  t.is(hex(encodeMsgpack({ Join: true, Nodes: 2, UserStateLen: 300 })), expected);
  const { value, end } = decodeMsgpack(h(expected));
  t.deepEqual(value, { Join: true, Nodes: 2, UserStateLen: 300 });
  t.is(end, expected.length / 2);
});

test('keys sort by UTF-8 bytes, as Go compares strings', (t) => {
  // Upper case before lower case; U+FF21 (ef bc a1) after U+10000 (f0 ...) in UTF-16 order
  // but before it in byte order.
  const enc = encodeMsgpack({ b: 1, a: 2, B: 3, '\u{10000}': 4, '\uff21': 5 });
  const keys = Object.keys(decodeMsgpack(enc).value as object);
  t.deepEqual(keys, ['B', 'a', 'b', '\uff21', '\u{10000}']);
});

test('Vsn bytes are a raw string, not an array', (t) => {
  t.is(hex(encodeMsgpack(Uint8Array.from([1, 5, 2, 0, 0, 0]))), 'a6010502000000');
  t.is(hex(encodeMsgpack(new Uint8Array())), 'a0');
  t.is(hex(encodeMsgpack(null)), 'c0');
});

test('string and byte lengths: fixraw < 32, raw16 to 65535, raw32 above; never str8 or bin', (t) => {
  const cases: Array<[number, string]> = [
    [0, 'a0'],
    [31, 'bf'],
    [32, 'da0020'],
    [255, 'da00ff'],
    [256, 'da0100'],
    [65535, 'daffff'],
    [65536, 'db00010000'],
  ];
  for (const [n, head] of cases) {
    for (const v of [Buffer.alloc(n, 0x78), 'x'.repeat(n)]) {
      const enc = encodeMsgpack(v);
      t.is(hex(enc.subarray(0, head.length / 2)), head, `length ${n}`);
      t.is(enc.length, head.length / 2 + n);
      const { value, end } = decodeMsgpack(enc);
      t.deepEqual(value, Buffer.alloc(n, 0x78));
      t.is(end, enc.length);
    }
  }
  t.is(hex(encodeMsgpack('é')), 'a2c3a9');
});

test('integers in the smallest form, unsigned when non-negative', (t) => {
  const cases: Array<[number | bigint, string]> = [
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [255, 'ccff'],
    [256, 'cd0100'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [0xffffffff, 'ceffffffff'],
    [0x100000000, 'cf0000000100000000'],
    [2n ** 64n - 1n, 'cfffffffffffffffff'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-128, 'd080'],
    [-129, 'd1ff7f'],
    [-32768, 'd18000'],
    [-32769, 'd2ffff7fff'],
    [-(2 ** 31), 'd280000000'],
    [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [-(2n ** 63n), 'd38000000000000000'],
  ];
  for (const [v, enc] of cases) {
    t.is(hex(encodeMsgpack(v)), enc, `${v}`);
    const back = decodeMsgpack(h(enc)).value;
    t.is(BigInt(back as number | bigint), BigInt(v), `${v}`);
  }
  t.is(decodeMsgpack(h('cf001fffffffffffff')).value, Number.MAX_SAFE_INTEGER);
  t.is(decodeMsgpack(h('cf0020000000000000')).value, 2n ** 53n);
  t.throws(() => encodeMsgpack(2n ** 64n), { instanceOf: MsgpackError });
  t.throws(() => encodeMsgpack(-(2n ** 63n) - 1n), { instanceOf: MsgpackError });
  t.is(hex(encodeMsgpack(true)), 'c3');
  t.is(hex(encodeMsgpack(false)), 'c2');
  t.is(hex(encodeMsgpack(1.5)), 'cb3ff8000000000000');
});

test('array and map headers at their boundaries', (t) => {
  t.is(hex(encodeMsgpack([])), '90');
  t.is(hex(encodeMsgpack(new Array<MsgValue>(15).fill(0)).subarray(0, 1)), '9f');
  t.is(hex(encodeMsgpack(new Array<MsgValue>(16).fill(0)).subarray(0, 3)), 'dc0010');
  t.is(hex(encodeMsgpack(new Array<MsgValue>(65536).fill(0)).subarray(0, 5)), 'dd00010000');
  const map = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${String(i).padStart(5, '0')}`, i]));
  t.is(hex(encodeMsgpack(map(15)).subarray(0, 1)), '8f');
  t.is(hex(encodeMsgpack(map(16)).subarray(0, 3)), 'de0010');
  t.is(hex(encodeMsgpack(map(65536)).subarray(0, 5)), 'df00010000');
  t.deepEqual(decodeMsgpack(encodeMsgpack(map(70000))).value, map(70000));
});

test('round trips nested memberlist-shaped values', (t) => {
  const alive = {
    Addr: Uint8Array.from([10, 0, 0, 7]),
    Incarnation: 4294967295,
    Meta: new Uint8Array(),
    Node: 'f2b0d2c1a7e4',
    Port: 7946,
    Vsn: Uint8Array.from([1, 5, 2, 0, 0, 0]),
  };
  const value = { a: [alive, null, true, -5, 'x', [[], {}]], n: 2n ** 60n, f: -0.25 };
  const enc = encodeMsgpack(value);
  const back = decodeMsgpack(enc).value as { a: MsgValue[] };
  const a0 = back.a[0] as Record<string, MsgValue>;
  t.deepEqual(Object.keys(a0), ['Addr', 'Incarnation', 'Meta', 'Node', 'Port', 'Vsn']);
  t.deepEqual(a0.Node, Buffer.from('f2b0d2c1a7e4'));
  t.deepEqual(a0.Addr, Buffer.from([10, 0, 0, 7]));
  t.is(a0.Port, 7946);
  t.deepEqual(back, {
    a: [{ ...alive, Addr: Buffer.from(alive.Addr), Meta: Buffer.alloc(0), Node: Buffer.from(alive.Node), Vsn: Buffer.from(alive.Vsn) }, null, true, -5, Buffer.from('x'), [[], {}]],
    f: -0.25,
    n: 2n ** 60n,
  });
});

test('decodes str8, bin, floats, map16 and signed ints from newer encoders', (t) => {
  t.deepEqual(decodeMsgpack(h('d903616263')).value, Buffer.from('abc'));
  t.deepEqual(decodeMsgpack(h('c403010203')).value, Buffer.from([1, 2, 3]));
  t.deepEqual(decodeMsgpack(h('c500020102')).value, Buffer.from([1, 2]));
  t.deepEqual(decodeMsgpack(h('c60000000101')).value, Buffer.from([1]));
  t.is(decodeMsgpack(h('ca3fc00000')).value, 1.5);
  t.is(decodeMsgpack(h('cbbff0000000000000')).value, -1);
  t.is(decodeMsgpack(h('d005')).value, 5);
  t.is(decodeMsgpack(h('d1fffe')).value, -2);
  t.is(decodeMsgpack(h('d2fffffffd')).value, -3);
  t.is(decodeMsgpack(h('d3fffffffffffffffc')).value, -4);
  t.deepEqual(decodeMsgpack(h('de0001a161c3')).value, { a: true });
  t.deepEqual(decodeMsgpack(h('df00000001a162c2')).value, { b: false });
  t.deepEqual(decodeMsgpack(h('dd00000001c0')).value, [null]);
});

test('decodes at an offset and reports where the object ends', (t) => {
  // A datagram: [type byte][msgpack][trailing raw bytes].
  const pkt = Buffer.concat([Buffer.from([6]), encodeMsgpack({ Join: false, Nodes: 0, UserStateLen: 2 }), Buffer.from('zz')]);
  const { value, end } = decodeMsgpack(pkt, 1);
  t.deepEqual(value, { Join: false, Nodes: 0, UserStateLen: 2 });
  t.is(pkt.subarray(end).toString(), 'zz');
  const view = new Uint8Array(pkt.buffer, pkt.byteOffset + 1, pkt.length - 3);
  t.is(decodeMsgpack(view).end, pkt.length - 3);
});

test('a __proto__ key stays an ordinary key', (t) => {
  const v = decodeMsgpack(h('81a95f5f70726f746f5f5f01')).value as Record<string, MsgValue>;
  t.is(Object.getPrototypeOf(v), Object.prototype);
  t.deepEqual(Object.keys(v), ['__proto__']);
});

test('truncation, unknown type bytes, bad keys and deep nesting throw E_MSGPACK', (t) => {
  const full = encodeMsgpack({ Join: true, Nodes: 2, UserStateLen: 300, Vsn: Uint8Array.from([1, 5, 2, 0, 0, 0]) });
  for (let n = 0; n < full.length; n++) {
    const err = t.throws(() => decodeMsgpack(full.subarray(0, n)), { instanceOf: MsgpackError });
    t.is(err?.code, 'E_MSGPACK');
  }
  for (const bad of ['c1', 'c7', 'd4', 'd8', 'cd00', 'dbffffffff', 'ddffffffff', 'df0001', '81c3c3']) {
    t.throws(() => decodeMsgpack(h(bad)), { instanceOf: MsgpackError }, bad);
  }
  t.throws(() => decodeMsgpack(Buffer.alloc(10_000, 0x91)), { instanceOf: MsgpackError });
  t.throws(() => decodeMsgpack(h('c0'), 2), { instanceOf: MsgpackError });
  let deep: MsgValue = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  t.throws(() => encodeMsgpack(deep), { instanceOf: MsgpackError });
});
