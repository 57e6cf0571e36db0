// CRC-32 (IEEE 802.3, the zlib/PNG polynomial). zlib.crc32 exists from Node 20.15 / 22.2;
// older 20.x lines get the table-driven version, which gives identical results.
import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Table-driven CRC-32; exported so tests can hold it against zlib's. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native: ((data: Uint8Array, value?: number) => number) | undefined =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : undefined;

export const crc32: (data: Uint8Array) => number = native ? (data) => native(data) >>> 0 : (data) => crc32Portable(data);

/** Which implementation is in use, for stats and test output. */
export const CRC32_IMPL: 'zlib' | 'portable' = native ? 'zlib' : 'portable';
