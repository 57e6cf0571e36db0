// LZW against Go's compress/lzw (LSB, litWidth 8). The golden digests were taken from the
// output of Go 1.19.8's lzw.NewWriter, the Go that built this machine's Debian dockerd 20.10.24.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { LzwError, lzwCompress, lzwDecompress } from '../../netd/gossip/lzw.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function lcg(seed: number, len: number, alphabet: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    d[i] = (seed >>> 16) % alphabet;
  }
  return d;
}

// Packs codes LSB-first. Widths follow the decoder: 9 bits after a clear, one more each
// time the next free code reaches 1 << width, capped at 12 with the table left full.
function pack(codes: number[]): Buffer {
  const out: number[] = [];
  let acc = 0;
  let nBits = 0;
  let width = 9;
  let hi = 257;
  for (const c of codes) {
    acc += c * 2 ** nBits;
    nBits += width;
    while (nBits >= 8) {
      out.push(acc % 256);
      acc = Math.floor(acc / 256);
      nBits -= 8;
    }
    if (c === 256) {
      width = 9;
      hi = 257;
      continue;
    }
    hi++;
    if (hi === 1 << width) {
      if (width === 12) hi--;
      else width++;
    }
  }
  if (nBits > 0) out.push(acc);
  return Buffer.from(out);
}

test('hand-checked vectors match Go 1.19', (t) => {
  // Every stream here stays at 9 bits: clear 256, the codes, EOF 257, packed LSB first.
  // "": 256 | 257<<9 = 0x20300.
  t.is(hex(lzwCompress(new Uint8Array())), '000302');
  // "a": 256 | 97<<9 | 257<<18 = 0x0404c300.
  t.is(hex(lzwCompress(Buffer.from('a'))), '00c30404');
  // "aa": 256, 97, 97 (the second 'a' misses the table: "aa" was only just entered), 257.
  t.is(hex(lzwCompress(Buffer.from('aa'))), '00c3840908');
  // "abababab": 256, 'a', 'b' (258="ab", 259="ba"), 258 (260="aba"), 260 (261="abab"), 'b', 257.
  t.is(hex(lzwCompress(Buffer.from('abababab'))), '00c3881148504c40');
  t.deepEqual(pack([256, 97, 98, 258, 260, 98, 257]), Buffer.from('00c3881148504c40', 'hex'));
});

test('larger inputs match Go 1.19 output byte for byte (length and sha256)', (t) => {
  const cases: Array<[Uint8Array, number, string]> = [
    [lcg(1, 100_000, 4), 29858, '3512d75e06ac8304fb4a1966f477dc71b687786d2740acdccdb68dd7e7925e3b'],
    [lcg(2, 100_000, 256), 136866, 'bfe7265f2894092e3a028859112e455f5367b5a9a05330a871b708371b8251fa'],
    [lcg(3, 300_000, 16), 187814, '37f675dd24ff0bfa18d04811261246ad91e43a36b423b8ef2a6a84483ed586ac'],
    // A long run fills the table several times, so this checks the clear-and-reset points.
    [new Uint8Array(1_000_000), 1819, '3ba961af8d0bc3bd9149af75e0f5a4b342a85c95a09ec479dfbeef960782494b'],
  ];
  for (const [input, len, digest] of cases) {
    const c = lzwCompress(input);
    t.is(c.length, len);
    t.is(sha256(c), digest);
    t.deepEqual(lzwDecompress(c, input.length), Buffer.from(input));
  }
});

test('round trips random and repetitive inputs of many sizes', (t) => {
  const sizes = [0, 1, 2, 3, 255, 256, 257, 511, 512, 4095, 4096, 4097, 100_000];
  for (const n of sizes) {
    const inputs = [
      randomBytes(n),
      new Uint8Array(n).fill(0x41),
      lcg(n + 1, n, 3),
      Buffer.from('memberlist pushPull '.repeat(Math.ceil(n / 20)).slice(0, n)),
    ];
    for (const input of inputs) {
      const back = lzwDecompress(lzwCompress(input), n);
      t.true(back.equals(Buffer.from(input)), `size ${n}`);
    }
  }
  const runs = new Uint8Array(2_000_000);
  for (let i = 0; i < runs.length; i++) runs[i] = (i >> 12) & 0xff;
  t.true(lzwDecompress(lzwCompress(runs), runs.length).equals(Buffer.from(runs)));
});

test('decodes streams with no leading clear (Go 1.16 and older) and repeated clears', (t) => {
  t.is(lzwDecompress(pack([97, 98, 258, 260, 98, 257]), 100).toString(), 'abababab');
  t.is(lzwDecompress(pack([256, 256, 97, 256, 98, 98, 258, 257]), 100).toString(), 'abbbb');
  t.is(lzwDecompress(pack([257]), 0).length, 0);
  // Bytes after EOF are ignored, as Go's reader stops there.
  t.is(lzwDecompress(Buffer.concat([lzwCompress(Buffer.from('xy')), Buffer.from([0xff, 0xff])]), 10).toString(), 'xy');
});

test('decodes a full table that is never cleared, like Go reader', (t) => {
  // 3838 literals define codes 258..4094; code 4095 then defines itself (the previous
  // string plus its own first byte), and the full table stays as it is until a clear.
  const lits = Array.from({ length: 3838 }, (_, i) => i % 251);
  const codes = [256, ...lits, 4095, 300, 65, 4095, 257];
  const expected = [
    ...lits,
    lits[3837]!, lits[3837]!,
    lits[42]!, lits[43]!, // 300 = lits[42] lits[43]
    65,
    lits[3837]!, lits[3837]!,
  ];
  t.deepEqual([...lzwDecompress(pack(codes), 10_000)], expected);
});

test('rejects malformed input with E_LZW', (t) => {
  const code = (f: () => unknown) => t.throws(f, { instanceOf: LzwError })?.code;
  // 259 before anything defined it.
  t.is(code(() => lzwDecompress(pack([256, 97, 259, 257]), 100)), 'E_LZW');
  // A first code that is not a literal.
  t.is(code(() => lzwDecompress(pack([256, 258, 257]), 100)), 'E_LZW');
  // No EOF code: Go's reader reports an unexpected EOF.
  const full = lzwCompress(Buffer.from('hello hello hello'));
  t.is(code(() => lzwDecompress(full.subarray(0, full.length - 2), 100)), 'E_LZW');
  t.is(code(() => lzwDecompress(new Uint8Array(), 100)), 'E_LZW');
});

test('rejects output over maxOutputBytes', (t) => {
  const c = lzwCompress(new Uint8Array(10_000));
  t.is(lzwDecompress(c, 10_000).length, 10_000);
  const err = t.throws(() => lzwDecompress(c, 9_999), { instanceOf: LzwError });
  t.is(err?.code, 'E_LZW');
  t.throws(() => lzwDecompress(lzwCompress(Buffer.from('a')), 0), { instanceOf: LzwError });
});
