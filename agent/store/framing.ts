// Record framing shared by the log and the snapshot: [u32 length][u32 crc32(payload)][payload],
// both integers little-endian, payload UTF-8 JSON. Decoding never throws: it returns the
// intact prefix and says why the rest (if any) was not a frame. findFrame tells a torn tail
// (nothing valid after the break) from damage in the middle (valid frames follow it).
import { crc32 } from './crc32.js';

export const FRAME_HEADER_BYTES = 8;
/** No record comes near this; a larger length field means a corrupt header, not a big record. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export type TailReason = 'short-header' | 'short-payload' | 'too-large' | 'bad-crc' | 'bad-json';

export interface DecodedFrame {
  /** Byte offset of the frame's header. */
  offset: number;
  /** Byte offset just past the frame. */
  end: number;
  value: unknown;
}

export interface DecodeResult {
  frames: DecodedFrame[];
  /** End of the last intact frame: the length a torn file is cut back to. */
  validEnd: number;
  /** Present when bytes after validEnd do not form a frame. */
  tail?: { offset: number; bytes: number; reason: TailReason };
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Reads one frame at `offset`; returns the reason when there is none. */
export function decodeFrameAt(buf: Uint8Array, offset: number): DecodedFrame | TailReason {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.length - offset < FRAME_HEADER_BYTES) return 'short-header';
  const length = view.readUInt32LE(offset);
  const sum = view.readUInt32LE(offset + 4);
  if (length > MAX_PAYLOAD_BYTES) return 'too-large';
  const start = offset + FRAME_HEADER_BYTES;
  const end = start + length;
  if (end > view.length) return 'short-payload';
  const payload = view.subarray(start, end);
  if (crc32(payload) !== sum) return 'bad-crc';
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'bad-json';
  }
  return { offset, end, value };
}

/** Splits a buffer into frames up to the first one that is short or corrupt. */
export function decodeFrames(buf: Uint8Array): DecodeResult {
  const frames: DecodedFrame[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const f = decodeFrameAt(buf, offset);
    if (typeof f === 'string') return { frames, validEnd: offset, tail: { offset, bytes: buf.length - offset, reason: f } };
    frames.push(f);
    offset = f.end;
  }
  return { frames, validEnd: offset };
}

/**
 * The first intact frame whose header starts at or after `from`, trying every byte offset:
 * after a corrupt frame its length field cannot be trusted, so the next frame may start
 * anywhere. A false match inside a payload is not possible in practice: JSON text has no
 * NUL bytes, so four payload bytes read as a length exceed MAX_PAYLOAD_BYTES, and any other
 * match must also pass the CRC and parse as JSON.
 */
export function findFrame(buf: Uint8Array, from: number): DecodedFrame | undefined {
  for (let offset = Math.max(0, from); offset + FRAME_HEADER_BYTES <= buf.length; offset++) {
    const f = decodeFrameAt(buf, offset);
    if (typeof f !== 'string') return f;
  }
  return undefined;
}
