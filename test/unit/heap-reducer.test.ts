import test from 'ava';
import { shouldCollect, startHeapReducer } from '../../agent/cli/heap-reducer.js';

const MB = 1024 * 1024;

test('shouldCollect: a quiet heap, or one grown by less than the margin, is left alone', (t) => {
  const base = { usedBytes: 50 * MB, externalBytes: 5 * MB };
  t.false(shouldCollect(base, base));
  t.false(shouldCollect({ usedBytes: 70 * MB, externalBytes: 5 * MB }, base));
  // Small heaps: the floor, not the fraction, decides.
  t.false(shouldCollect({ usedBytes: 28 * MB, externalBytes: 0 }, { usedBytes: 10 * MB, externalBytes: 0 }));
});

test('shouldCollect: growth past the margin, in objects or in Buffers they hold, collects', (t) => {
  const base = { usedBytes: 50 * MB, externalBytes: 5 * MB };
  t.true(shouldCollect({ usedBytes: 90 * MB, externalBytes: 5 * MB }, base));
  t.true(shouldCollect({ usedBytes: 50 * MB, externalBytes: 40 * MB }, base));
  t.true(shouldCollect({ usedBytes: 30 * MB, externalBytes: 0 }, { usedBytes: 10 * MB, externalBytes: 0 }));
});

test("startHeapReducer: V8's gc() is had without exposing it to the process", (t) => {
  const lines: string[] = [];
  const stop = startHeapReducer((_level, msg) => void lines.push(msg));
  stop();
  t.deepEqual(lines, [], 'no line: gc() was had');
  t.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});
