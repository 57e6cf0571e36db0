// FramePool (netd/gossip/stream.ts): large stream frames' buffers kept for the next frames.
// The clock is injected so the idle release can be checked without waiting two minutes.
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

test('a frame larger than every free buffer gets its own; at most two are kept, the largest', (t) => {
  const pool = new FramePool();
  const bufs = [pool.take(MB), pool.take(2 * MB), pool.take(3 * MB)];
  const big = pool.take(4 * MB);
  t.true(bufs.every((b) => b.buffer !== big.buffer));
  for (const b of [...bufs, big]) pool.give(b);
  const kept = pool.freeBytes;
  t.true(kept >= 7 * MB && kept < 9 * MB, `the 3 and 4 MB buffers kept (${kept} bytes)`);
  t.is(pool.take(4 * MB).buffer, big.buffer);
});

test('giving back twice, or a buffer not taken from the pool, keeps nothing extra', (t) => {
  const pool = new FramePool();
  const b = pool.take(MB);
  pool.give(b);
  pool.give(b);
  t.is(pool.take(MB).buffer, b.buffer);
  t.is(pool.freeBytes, 0, 'the second give was ignored');
  pool.give(Buffer.alloc(MB));
  t.is(pool.freeBytes, 0);
});

test('free buffers unused for two minutes are let go', (t) => {
  let now = 0;
  const pool = new FramePool(() => now);
  pool.give(pool.take(MB));
  now = 119_000;
  pool.trim();
  t.true(pool.freeBytes >= MB, 'still within two minutes');
  now = 120_000;
  pool.trim();
  t.is(pool.freeBytes, 0);
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
