// The msgpack subset memberlist speaks through hashicorp/go-msgpack's old codec with a
// default MsgpackHandle. The encoder writes exactly what that codec writes, so our packets
// have Go's sizes (the UDP budget is counted in bytes) and tests can use Go's vectors:
//  - strings and byte slices both as the old raw type (fixraw, raw16, raw32), never str8
//    or bin;
//  - maps (Go structs) with keys in byte order, as the codec sorts struct fields by name;
//  - integers in the smallest form, unsigned whenever the value is non-negative.
// The decoder also takes the newer spec's str8, bin and float types, and returns every
// raw, str or bin value as a Buffer: the old raw type does not say which one was meant.
import { BerthError } from '../../base/index.js';

export type MsgValue = null | boolean | number | bigint | string | Uint8Array | MsgValue[] | { [key: string]: MsgValue };

/** Input that is not the msgpack subset memberlist speaks; retrying cannot help. */
export class MsgpackError extends BerthError {
  declare readonly code: 'E_MSGPACK';
  constructor(message: string) {
    super('E_MSGPACK', message);
  }
}

// memberlist's messages nest two levels; this only stops hostile input from blowing the stack.
const MAX_DEPTH = 64;

class Writer {
  buf = Buffer.allocUnsafe(256);
  len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  tagU8(tag: number, v: number): void {
    this.ensure(2);
    this.buf[this.len++] = tag;
    this.buf[this.len++] = v & 0xff;
  }

  tagU16(tag: number, v: number): void {
    this.ensure(3);
    this.buf[this.len] = tag;
    this.buf.writeUInt16BE(v, this.len + 1);
    this.len += 3;
  }

  tagU32(tag: number, v: number): void {
    this.ensure(5);
    this.buf[this.len] = tag;
    this.buf.writeUInt32BE(v, this.len + 1);
    this.len += 5;
  }

  tagU64(tag: number, v: bigint): void {
    this.ensure(9);
    this.buf[this.len] = tag;
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, v), this.len + 1);
    this.len += 9;
  }

  tagF64(v: number): void {
    this.ensure(9);
    this.buf[this.len] = 0xcb;
    this.buf.writeDoubleBE(v, this.len + 1);
    this.len += 9;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

function writeInt(w: Writer, v: bigint | number): void {
  if (typeof v === 'number' && (v > 0xffffffff || v < -0x80000000)) v = BigInt(v);
  if (typeof v === 'bigint') {
    if (v > UINT64_MAX || v < INT64_MIN) throw new MsgpackError(`msgpack: integer ${v} does not fit 64 bits`);
    if (v >= 0n && v > 0xffffffffn) return w.tagU64(0xcf, v);
    if (v < 0n && v < -0x80000000n) return w.tagU64(0xd3, v);
    v = Number(v);
  }
  if (v >= 0) {
    if (v <= 0x7f) w.u8(v);
    else if (v <= 0xff) w.tagU8(0xcc, v);
    else if (v <= 0xffff) w.tagU16(0xcd, v);
    else w.tagU32(0xce, v);
  } else if (v >= -32) {
    w.u8(v & 0xff);
  } else if (v >= -0x80) {
    w.tagU8(0xd0, v);
  } else if (v >= -0x8000) {
    w.tagU16(0xd1, v & 0xffff);
  } else {
    w.tagU32(0xd2, v >>> 0);
  }
}

function writeRaw(w: Writer, b: Uint8Array): void {
  const n = b.length;
  if (n < 32) w.u8(0xa0 | n);
  else if (n <= 0xffff) w.tagU16(0xda, n);
  else w.tagU32(0xdb, n);
  w.bytes(b);
}

function writeValue(w: Writer, v: MsgValue, depth: number): void {
  if (depth > MAX_DEPTH) throw new MsgpackError(`msgpack: value nested deeper than ${MAX_DEPTH}`);
  if (v === null) return w.u8(0xc0);
  switch (typeof v) {
    case 'boolean':
      return w.u8(v ? 0xc3 : 0xc2);
    case 'number':
      return Number.isInteger(v) ? writeInt(w, v) : w.tagF64(v);
    case 'bigint':
      return writeInt(w, v);
    case 'string':
      return writeRaw(w, Buffer.from(v, 'utf8'));
    case 'object':
      break;
    default:
      throw new MsgpackError(`msgpack: cannot encode a ${typeof v}`);
  }
  if (v instanceof Uint8Array) return writeRaw(w, v);
  if (Array.isArray(v)) {
    const n = v.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n <= 0xffff) w.tagU16(0xdc, n);
    else w.tagU32(0xdd, n);
    for (const item of v) writeValue(w, item, depth + 1);
    return;
  }
  // Go compares field names as byte strings; UTF-16 order differs above U+D7FF.
  const entries = Object.entries(v)
    .map(([k, val]) => [Buffer.from(k, 'utf8'), val] as const)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  const n = entries.length;
  if (n < 16) w.u8(0x80 | n);
  else if (n <= 0xffff) w.tagU16(0xde, n);
  else w.tagU32(0xdf, n);
  for (const [k, val] of entries) {
    if (val === undefined) throw new MsgpackError(`msgpack: key ${k.toString()} is undefined`);
    writeRaw(w, k);
    writeValue(w, val, depth + 1);
  }
}

export function encodeMsgpack(v: MsgValue): Buffer {
  const w = new Writer();
  writeValue(w, v, 0);
  return Buffer.from(w.buf.subarray(0, w.len));
}

class Reader {
  readonly buf: Buffer;
  pos: number;

  constructor(src: Uint8Array, offset: number) {
    this.buf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    this.pos = offset;
  }

  need(n: number): number {
    const at = this.pos;
    if (n > this.buf.length - at) {
      throw new MsgpackError(`msgpack: truncated: need ${n} bytes at offset ${at}, have ${this.buf.length - at}`);
    }
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  raw(n: number): Buffer {
    const at = this.need(n);
    return Buffer.from(this.buf.subarray(at, at + n));
  }

  // Every element takes at least one byte, so a count beyond the input is truncation.
  count(n: number): number {
    if (n > this.buf.length - this.pos) {
      throw new MsgpackError(`msgpack: truncated: ${n} elements declared at offset ${this.pos}`);
    }
    return n;
  }
}

const bigOrNumber = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function readArray(r: Reader, n: number, depth: number): MsgValue[] {
  r.count(n);
  const out: MsgValue[] = [];
  for (let i = 0; i < n; i++) out.push(readValue(r, depth + 1));
  return out;
}

function readMap(r: Reader, n: number, depth: number): { [key: string]: MsgValue } {
  r.count(n);
  const out: { [key: string]: MsgValue } = {};
  for (let i = 0; i < n; i++) {
    const keyAt = r.pos;
    const key = readValue(r, depth + 1);
    if (!(key instanceof Uint8Array)) throw new MsgpackError(`msgpack: map key at offset ${keyAt} is not a string`);
    // defineProperty so that a "__proto__" key stays data instead of replacing the prototype.
    Object.defineProperty(out, Buffer.from(key).toString('utf8'), {
      value: readValue(r, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function readValue(r: Reader, depth: number): MsgValue {
  if (depth > MAX_DEPTH) throw new MsgpackError(`msgpack: input nested deeper than ${MAX_DEPTH}`);
  const at = r.pos;
  const t = r.u8();
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t <= 0x8f) return readMap(r, t & 0x0f, depth);
  if (t <= 0x9f) return readArray(r, t & 0x0f, depth);
  if (t <= 0xbf) return r.raw(t & 0x1f);
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
    case 0xd9:
      return r.raw(r.u8());
    case 0xc5:
    case 0xda:
      return r.raw(r.u16());
    case 0xc6:
    case 0xdb:
      return r.raw(r.u32());
    case 0xca:
      return r.buf.readFloatBE(r.need(4));
    case 0xcb:
      return r.buf.readDoubleBE(r.need(8));
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf:
      return bigOrNumber(r.buf.readBigUInt64BE(r.need(8)));
    case 0xd0:
      return r.buf.readInt8(r.need(1));
    case 0xd1:
      return r.buf.readInt16BE(r.need(2));
    case 0xd2:
      return r.buf.readInt32BE(r.need(4));
    case 0xd3:
      return bigOrNumber(r.buf.readBigInt64BE(r.need(8)));
    case 0xdc:
      return readArray(r, r.u16(), depth);
    case 0xdd:
      return readArray(r, r.u32(), depth);
    case 0xde:
      return readMap(r, r.u16(), depth);
    case 0xdf:
      return readMap(r, r.u32(), depth);
    default:
      throw new MsgpackError(`msgpack: unsupported type byte 0x${t.toString(16)} at offset ${at}`);
  }
}

export function decodeMsgpack(buf: Uint8Array, offset = 0): { value: MsgValue; end: number } {
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) {
    throw new MsgpackError(`msgpack: offset ${offset} outside a ${buf.length}-byte input`);
  }
  const r = new Reader(buf, offset);
  const value = readValue(r, 0);
  return { value, end: r.pos };
}
