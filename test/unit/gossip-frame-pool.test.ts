// FramePool (netd/gossip/stream.ts): large stream frames' buffers kept for the next frames, and
// released (detached: their memory freed at once) when unused. The clock is injected.
import test from 'ava';
import { FramePool, FrameReader } from '../../netd/gossip/stream.js';

const MB = 1024 * 1024;

test('a large frame buffer given back serves the next frame that fits; a small one is never pooled', (t) => {
  const pool = new FramePool();
  const first = pool.take(MB);
  t.is(first.length, MB);
  pool.give(first);
  t.true(pool.freeBytes >= MB, 'kept');
  const second = pool.take(MB - 10);
  t.is(second.buffer, first.buffer, 'the same memory, reused');
  t.is(second.length, MB - 10);
  t.is(pool.freeBytes, 0, 'taken out while in use');
  const third = pool.take(MB);
  t.not(third.buffer, first.buffer, 'in use: a new buffer');
  const small = pool.take(1000);
  pool.give(small);
  t.is(pool.freeBytes, 0, 'small frames die young instead');
});

test('a frame larger than every free buffer gets its own; at most two are kept, the largest; the others are released', (t) => {
  const pool = new FramePool();
  const bufs = [pool.take(MB), pool.take(2 * MB), pool.take(3 * MB)];
  const big = pool.take(4 * MB);
  t.true(bufs.every((b) => b.buffer !== big.buffer));
  for (const b of [...bufs, big]) pool.give(b);
  const kept = pool.freeBytes;
  t.true(kept >= 7 * MB && kept < 9 * MB, `the 3 and 4 MB buffers kept (${kept} bytes)`);
  t.is(bufs[0]!.buffer.byteLength, 0, 'the 1 MB buffer released (detached)');
  t.is(bufs[1]!.buffer.byteLength, 0, 'the 2 MB buffer released (detached)');
  t.true(bufs[2]!.buffer.byteLength >= 3 * MB, 'the 3 MB one kept whole');
  t.is(pool.take(4 * MB).buffer, big.buffer);
});

test('giving back twice, or a buffer not taken from the pool, keeps nothing extra', (t) => {
  const pool = new FramePool();
  const b = pool.take(MB);
  pool.give(b);
  pool.give(b);
  t.is(pool.take(MB).buffer, b.buffer);
  t.is(pool.freeBytes, 0, 'the second give was ignored');
  const notOurs = Buffer.alloc(MB, 1);
  pool.give(notOurs);
  t.is(pool.freeBytes, 0);
  pool.trim();
  t.is(notOurs.length, MB, 'a buffer not taken from the pool is never released');
  t.is(notOurs[MB - 1], 1);
});

test('free buffers unused for 5 s are released: detached, their memory freed at once', (t) => {
  let now = 0;
  const pool = new FramePool(() => now);
  const first = pool.take(MB);
  pool.give(first);
  now = 3_000;
  const second = pool.take(2 * MB);
  pool.give(second);
  now = 4_999;
  pool.trim();
  t.true(pool.freeBytes >= 3 * MB, 'both kept within 5 s');
  t.true(first.buffer.byteLength >= MB);
  now = 5_000;
  pool.trim();
  t.is(first.buffer.byteLength, 0, 'the first released at 5 s (its ArrayBuffer detached)');
  t.true(second.buffer.byteLength >= 2 * MB, 'the second, given back later, kept');
  t.true(pool.freeBytes >= 2 * MB && pool.freeBytes < 3 * MB);
  now = 8_000;
  pool.trim();
  t.is(second.buffer.byteLength, 0);
  t.is(pool.freeBytes, 0);
  const next = pool.take(MB);
  t.is(next.length, MB, 'a frame after the release gets a new buffer');
  t.not(next.buffer, first.buffer);
});

test('the frame reader takes a large body from its pool', (t) => {
  const pool = new FramePool();
  const kept = pool.take(MB);
  pool.give(kept);
  const len = MB - 100;
  const frame = Buffer.alloc(5 + len, 7);
  frame[0] = 10;
  frame.writeUInt32BE(len, 1);
  const r = new FrameReader(8 * MB, pool);
  let out: ReturnType<FrameReader['push']>;
  for (let i = 0; i < frame.length; i += 65536) out = r.push(frame.subarray(i, i + 65536));
  t.truthy(out);
  t.is(out!.body.buffer, kept.buffer);
  t.true(out!.body.equals(frame.subarray(5)));
});
