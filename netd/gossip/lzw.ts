// LZW as Go's compress/lzw speaks it with order LSB and litWidth 8 (memberlist's compress
// message, Algo 0). GIF-style: literals 0-255, clear 256, EOF 257, codes of 9 to 12 bits.
// The encoder matches Go 1.17+ byte for byte (Docker 20.10.24 is built with Go 1.19), and
// keeps the points where Go differs from other GIF encoders:
//  - a leading clear code, even for empty input (Go 1.16 and older did not send one; their
//    readers accept it, so the one encoding is right for every Docker 20.10 peer);
//  - the table is cleared (clear code sent) as soon as the next free code would be 4095,
//    so code 4095 is never assigned by the encoder;
//  - the clear code is written at the width in force (12), and the pending literal is
//    then sent as the first code of the new table without adding a table entry for it;
//  - Close sends the pending code, counts it like any other (which can itself send a
//    clear), then EOF, then the last partial byte padded with zero bits.
// The decoder follows Go's reader: it also accepts a leading or repeated clear code and a
// full table that is never cleared (no new entries are added until the next clear).
import { BerthError } from '../../base/index.js';

/** Input that is not valid LZW; retrying the same bytes cannot help. */
export class LzwError extends BerthError {
  declare readonly code: 'E_LZW';
  constructor(message: string) {
    super('E_LZW', message);
  }
}

/** The output would pass the caller's cap; decoding stopped there (the input may be valid). */
export class LzwOutputLimitError extends LzwError {
  constructor(readonly maxOutputBytes: number) {
    super(`lzw: decompressed output exceeds ${maxOutputBytes} bytes`);
  }
}

const CLEAR = 256;
const EOF = 257;
const MIN_WIDTH = 9;
const MAX_WIDTH = 12;
const TABLE_SIZE = 1 << MAX_WIDTH;
// Go's writer resets when its next code reaches 4095, one short of 12-bit capacity.
const ENCODER_RESET_AT = TABLE_SIZE - 1;

class BitWriter {
  private out: Uint8Array;
  private len = 0;
  private acc = 0;
  private nBits = 0;

  constructor(capacity: number) {
    this.out = new Uint8Array(capacity);
  }

  write(code: number, width: number): void {
    this.acc |= code << this.nBits;
    this.nBits += width;
    while (this.nBits >= 8) {
      this.push(this.acc & 0xff);
      this.acc >>>= 8;
      this.nBits -= 8;
    }
  }

  finish(): Buffer {
    if (this.nBits > 0) this.push(this.acc & 0xff);
    return Buffer.from(this.out.buffer, this.out.byteOffset, this.len);
  }

  private push(b: number): void {
    if (this.len === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.len++] = b;
  }
}

export function lzwCompress(data: Uint8Array): Buffer {
  // Each input byte yields at most one code of at most 12 bits, plus clears and EOF.
  const bw = new BitWriter(Math.ceil(data.length * 1.5) + 16);
  // Key: prefix code * 256 + next byte; value: the code for that string.
  const dict = new Map<number, number>();
  let width = MIN_WIDTH;
  // The code the latest emission implies as the newest table entry (Go's writer `hi`).
  let hi = EOF;

  // Emits a code and advances the table; returns false when that reset the table.
  const emit = (code: number): boolean => {
    bw.write(code, width);
    hi++;
    if (hi === 1 << width) width++;
    if (hi === ENCODER_RESET_AT) {
      bw.write(CLEAR, width);
      width = MIN_WIDTH;
      hi = EOF;
      dict.clear();
      return false;
    }
    return true;
  };

  bw.write(CLEAR, width);
  if (data.length > 0) {
    let cur = data[0]!;
    for (let i = 1; i < data.length; i++) {
      const b = data[i]!;
      const key = cur * 256 + b;
      const hit = dict.get(key);
      if (hit !== undefined) {
        cur = hit;
        continue;
      }
      // After a reset the string that missed is not entered into the fresh table.
      if (emit(cur)) dict.set(key, hi);
      cur = b;
    }
    emit(cur);
  }
  bw.write(EOF, width);
  return bw.finish();
}

/** Stops with LzwOutputLimitError as soon as the output would pass `maxOutputBytes`. */
export function lzwDecompress(data: Uint8Array, maxOutputBytes: number): Buffer {
  const prefix = new Uint16Array(TABLE_SIZE);
  const suffix = new Uint8Array(TABLE_SIZE);
  const firstByte = new Uint8Array(TABLE_SIZE);
  const length = new Uint16Array(TABLE_SIZE);
  for (let c = 0; c < CLEAR; c++) {
    suffix[c] = c;
    firstByte[c] = c;
    length[c] = 1;
  }

  let out = new Uint8Array(Math.min(Math.max(data.length * 4, 64), Math.max(maxOutputBytes, 0)) || 1);
  let outLen = 0;
  const reserve = (n: number): void => {
    if (outLen + n > maxOutputBytes) {
      throw new LzwOutputLimitError(maxOutputBytes);
    }
    if (outLen + n > out.length) {
      const grown = new Uint8Array(Math.min(Math.max(out.length * 2, outLen + n), maxOutputBytes));
      grown.set(out.subarray(0, outLen));
      out = grown;
    }
  };

  let pos = 0;
  let acc = 0;
  let nBits = 0;
  let width = MIN_WIDTH;
  // hi: the code the next non-clear code will define (Go's reader `hi`); -1 = no previous code.
  let hi = EOF;
  let last = -1;

  for (;;) {
    while (nBits < width) {
      if (pos >= data.length) throw new LzwError('lzw: input ends before the EOF code');
      acc |= data[pos++]! << nBits;
      nBits += 8;
    }
    const code = acc & ((1 << width) - 1);
    acc >>>= width;
    nBits -= width;

    if (code === CLEAR) {
      width = MIN_WIDTH;
      hi = EOF;
      last = -1;
      continue;
    }
    if (code === EOF) break;

    let head: number;
    if (code < CLEAR) {
      reserve(1);
      out[outLen++] = code;
      head = code;
    } else if (code < hi || (code === hi && last === -1 && length[code]! > 0)) {
      // The second case is only reachable with a full table, where code 4095 is defined.
      const n = length[code]!;
      reserve(n);
      let c = code;
      for (let i = outLen + n - 1; i >= outLen; i--) {
        out[i] = suffix[c]!;
        c = prefix[c]!;
      }
      outLen += n;
      head = firstByte[code]!;
    } else if (code === hi && last !== -1) {
      // The string being defined right now: previous string plus its own first byte.
      const n = length[last]! + 1;
      reserve(n);
      head = firstByte[last]!;
      out.copyWithin(outLen, outLen - length[last]!, outLen);
      out[outLen + n - 1] = head;
      outLen += n;
    } else {
      throw new LzwError(`lzw: invalid code ${code} (next code would be ${hi})`);
    }

    if (last !== -1) {
      prefix[hi] = last;
      suffix[hi] = head;
      firstByte[hi] = firstByte[last]!;
      length[hi] = length[last]! + 1;
    }
    last = code;
    hi++;
    if (hi === 1 << width) {
      if (width === MAX_WIDTH) {
        // Full table: keep decoding with it as it is until a clear code arrives.
        last = -1;
        hi--;
      } else {
        width++;
      }
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, outLen);
}
