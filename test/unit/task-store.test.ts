import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { crc32, crc32Portable } from '../../agent/store/crc32.js';
import { FRAME_HEADER_BYTES, decodeFrameAt, decodeFrames, encodeFrame, findFrame, type TailReason } from '../../agent/store/framing.js';
import {
  applyRecord,
  decodeSnapshot,
  emptyState,
  encodeSnapshot,
  nextEntry,
  parseRecord,
  statusProblem,
  type LogRecord,
  type StoreState,
  type TaskRecord,
} from '../../agent/store/state.js';
import { LOG_FILE, SNAPSHOT_FILE } from '../../agent/store/task-store.js';
import { COMPACT_CHANNEL, StoreError, TaskStore, type CompactEvent, type StoreErrorCode, type StoredStatus } from '../../agent/store/index.js';

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The store compares states only by number, so these tests use any non-negative integer.
const status = (state: number, message = `state ${state}`): StoredStatus => ({ state: state as StoredStatus['state'], message, timestamp: '2026-01-01T00:00:00Z' });

/** Everything a reopened store must reproduce. */
function snapshotOf(s: TaskStore) {
  return { list: s.list(), unreported: s.unreported(), lastSeq: s.stats().lastSeq };
}

/** Opens a store, runs fn, closes it. */
function withStore<R>(dir: string, fn: (s: TaskStore) => R, opts: Parameters<typeof TaskStore.open>[1] = {}): R {
  const s = TaskStore.open(dir, opts);
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

function storeCode(t: ExecutionContext, fn: () => unknown, code: StoreErrorCode): StoreError {
  const err = t.throws(fn, { instanceOf: StoreError });
  t.is(err?.code, code, err?.message);
  return err as StoreError;
}

// ---------------------------------------------------------------- crc32 and framing

test('crc32 matches the standard check value and zlib on random input', (t) => {
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.is(crc32Portable(Buffer.from('123456789')), 0xcbf43926);
  t.is(crc32Portable(Buffer.alloc(0)), 0);
  for (let i = 0; i < 200; i++) {
    const b = randomBytes(i * 7);
    t.is(crc32Portable(b), crc32(b));
    if (typeof zlib.crc32 === 'function') t.is(crc32Portable(b), zlib.crc32(b) >>> 0);
  }
  // Chaining: crc(a+b) == crc(b, crc(a)).
  const a = randomBytes(33);
  const b = randomBytes(71);
  t.is(crc32Portable(b, crc32Portable(a)), crc32Portable(Buffer.concat([a, b])));
});

test('frames round trip, several in a row', (t) => {
  const values = [{ a: 1 }, [1, 2, 3], 'x', null, { nested: { ü: 'ünïcode', n: 1.5 } }];
  const buf = Buffer.concat(values.map((v) => encodeFrame(Buffer.from(JSON.stringify(v)))));
  const d = decodeFrames(buf);
  t.deepEqual(
    d.frames.map((f) => f.value),
    values,
  );
  t.is(d.validEnd, buf.length);
  t.is(d.tail, undefined);
  t.is(d.frames[0]!.offset, 0);
  t.is(d.frames[1]!.offset, d.frames[0]!.end);
  t.deepEqual(decodeFrames(Buffer.alloc(0)), { frames: [], validEnd: 0 });
});

test('frame header layout: little-endian length then crc32 of the payload', (t) => {
  const payload = Buffer.from('{"k":"v"}');
  const f = encodeFrame(payload);
  t.is(f.length, FRAME_HEADER_BYTES + payload.length);
  t.is(f.readUInt32LE(0), payload.length);
  t.is(f.readUInt32LE(4), crc32(payload));
  t.deepEqual(f.subarray(8), payload);
});

test('decoding names why a tail is not a frame', (t) => {
  const good = encodeFrame(Buffer.from('{"a":1}'));
  const cases: Array<[string, Buffer, TailReason]> = [];
  for (let n = 1; n < FRAME_HEADER_BYTES; n++) cases.push([`${n}-byte header`, good.subarray(0, n), 'short-header']);
  for (let n = FRAME_HEADER_BYTES; n < good.length; n++) cases.push([`cut at ${n}`, good.subarray(0, n), 'short-payload']);
  const big = Buffer.from(good);
  big.writeUInt32LE(0xffffffff, 0);
  cases.push(['huge length', big, 'too-large']);
  const badCrc = Buffer.from(good);
  badCrc.writeUInt32LE(good.readUInt32LE(4) ^ 1, 4);
  cases.push(['bad crc', badCrc, 'bad-crc']);
  cases.push(['not json', encodeFrame(Buffer.from('{"a":')), 'bad-json']);
  cases.push(['zero length (zeroed block)', Buffer.alloc(64), 'bad-json']);
  for (const [name, tail, reason] of cases) {
    const buf = Buffer.concat([good, tail]);
    const d = decodeFrames(buf);
    t.is(d.frames.length, 1, name);
    t.is(d.validEnd, good.length, name);
    t.deepEqual(d.tail, { offset: good.length, bytes: tail.length, reason }, name);
    t.is(decodeFrameAt(buf, good.length), reason, name);
  }
});

test('findFrame finds the next intact frame at any offset after damage, and nothing in a torn tail', (t) => {
  const a = encodeFrame(Buffer.from('{"a":1}'));
  const b = encodeFrame(Buffer.from('{"b":"' + 'x'.repeat(50) + '"}'));
  const c = encodeFrame(Buffer.from('{"c":[1,2,3]}'));
  const buf = Buffer.concat([a, b, c]);
  t.is(findFrame(buf, 0)?.offset, 0);
  // From anywhere inside a or b, the next header found is the next real one: payload bytes never pose as one.
  for (let from = 1; from <= a.length; from++) t.is(findFrame(buf, from)?.offset, a.length, `from ${from}`);
  for (let from = a.length + 1; from <= a.length + b.length; from++) t.is(findFrame(buf, from)?.offset, a.length + b.length, `from ${from}`);
  t.is(findFrame(buf, buf.length), undefined);
  t.is(findFrame(Buffer.concat([a, b.subarray(0, 20)]), 1), undefined);
  t.is(findFrame(Buffer.concat([a, Buffer.alloc(4096)]), 1), undefined, 'zeros are no frame');
  t.deepEqual(findFrame(Buffer.concat([randomBytes(3), c]), 0)?.value, { c: [1, 2, 3] });
});

test('frames refuse payloads over the maximum', (t) => {
  t.throws(() => encodeFrame({ length: 64 * 1024 * 1024 + 1 } as Uint8Array), { instanceOf: RangeError });
});

// ---------------------------------------------------------------- records and state

const rTask = (seq: number, id: string, task: unknown = { id }): LogRecord => ({ seq, op: 'task', id, task });
const rStatus = (seq: number, id: string, statusSeq: number, state: number, message?: string): LogRecord => ({
  seq,
  op: 'status',
  id,
  statusSeq,
  status: status(state, message),
});
const rReported = (seq: number, id: string, reportedSeq: number): LogRecord => ({ seq, op: 'reported', id, reportedSeq });
const rRemove = (seq: number, id: string): LogRecord => ({ seq, op: 'remove', id });

function entry(over: Partial<TaskRecord> & { id: string }): TaskRecord {
  return { task: { id: over.id }, status: undefined, statusSeq: 0, reportedSeq: 0, statusLogSeq: 0, ...over };
}

test('nextEntry: every transition', (t) => {
  const fresh = entry({ id: 'a' });
  t.deepEqual(nextEntry(undefined, rTask(1, 'a')), fresh);

  const running = entry({ id: 'a', status: status(512), statusSeq: 3, reportedSeq: 1, statusLogSeq: 9 });
  // A new task value keeps status and counters.
  t.deepEqual(nextEntry(running, rTask(10, 'a', { v: 2 })), { ...running, task: { v: 2 } });
  // Status: next seq, same or higher state.
  t.deepEqual(nextEntry(running, rStatus(10, 'a', 4, 512, 'again')), { ...running, status: status(512, 'again'), statusSeq: 4, statusLogSeq: 10 });
  t.deepEqual(nextEntry(running, rStatus(10, 'a', 4, 576)), { ...running, status: status(576), statusSeq: 4, statusLogSeq: 10 });
  t.deepEqual(nextEntry(fresh, rStatus(2, 'a', 1, 0)), { ...fresh, status: status(0), statusSeq: 1, statusLogSeq: 2 });
  // Replayed (already contained) status and acknowledgement records change nothing.
  t.is(nextEntry(running, rStatus(10, 'a', 3, 0)), running);
  t.is(nextEntry(running, rStatus(10, 'a', 2, 64)), running);
  t.is(nextEntry(running, rReported(10, 'a', 1)), running);
  t.is(nextEntry(running, rReported(10, 'a', 0)), running);
  // Acknowledgement raises reportedSeq up to statusSeq, not beyond.
  t.deepEqual(nextEntry(running, rReported(10, 'a', 3)), { ...running, reportedSeq: 3 });
  storeCode(t, () => nextEntry(running, rReported(10, 'a', 4)), 'E_INVALID_ARGUMENT');
  t.is(nextEntry(undefined, rReported(10, 'a', 4)), undefined);
  // Forbidden moves.
  storeCode(t, () => nextEntry(running, rStatus(10, 'a', 4, 448)), 'E_STATE_BACKWARDS');
  storeCode(t, () => nextEntry(running, rStatus(10, 'a', 5, 576)), 'E_LOG_INVALID');
  storeCode(t, () => nextEntry(undefined, rStatus(10, 'a', 1, 0)), 'E_NO_TASK');
  // Remove.
  t.is(nextEntry(running, rRemove(10, 'a')), undefined);
  t.is(nextEntry(undefined, rRemove(10, 'a')), undefined);
});

function applyAll(state: StoreState, recs: LogRecord[]): boolean[] {
  return recs.map((r) => applyRecord(state, r));
}

test('applyRecord keeps the unreported queue in write order and is idempotent', (t) => {
  const recs = [
    rTask(1, 'a'),
    rTask(2, 'b'),
    rTask(3, 'c'),
    rStatus(4, 'a', 1, 64),
    rStatus(5, 'b', 1, 64),
    rStatus(6, 'c', 1, 64),
    rStatus(7, 'a', 2, 192), // a moves behind c
    rReported(8, 'b', 1), // b leaves
    rReported(9, 'a', 1), // a stays (2 not acked) and keeps its place
  ];
  const s = emptyState();
  t.deepEqual(applyAll(s, recs), recs.map(() => true));
  t.deepEqual([...s.pending.keys()], ['c', 'a']);
  t.is(s.lastSeq, 9);
  // Replaying everything again changes nothing.
  const before = structuredClone({ tasks: [...s.tasks], pending: [...s.pending] });
  t.deepEqual(applyAll(s, recs), recs.map(() => false));
  t.deepEqual({ tasks: [...s.tasks], pending: [...s.pending] }, before);
  // A gap is not replayable.
  storeCode(t, () => applyRecord(s, rStatus(11, 'a', 3, 512)), 'E_LOG_INVALID');
  applyRecord(s, rRemove(10, 'c'));
  t.deepEqual([...s.pending.keys()], ['a']);
  t.false(s.tasks.has('c'));
  // Applied entries are frozen.
  t.true(Object.isFrozen(s.tasks.get('a')));
});

test('statusProblem and parseRecord accept exactly the stored shapes', (t) => {
  t.is(statusProblem(status(0)), undefined);
  t.is(statusProblem({ state: 512, timestamp: 't', extra: { exitCode: 3 } }), undefined);
  for (const bad of [null, [], 'x', { state: -1, timestamp: 't' }, { state: 1.5, timestamp: 't' }, { state: '1', timestamp: 't' }, { state: 1 }, { state: 1, timestamp: 't', message: 3 }, { state: 1, timestamp: 't', err: {} }]) {
    t.not(statusProblem(bad), undefined, JSON.stringify(bad));
  }
  for (const good of [rTask(1, 'a'), rTask(1, 'a', null), rStatus(2, 'a', 1, 0), rReported(3, 'a', 0), rRemove(4, 'a')]) {
    t.deepEqual(parseRecord(JSON.parse(JSON.stringify(good))), good);
  }
  for (const bad of [null, 1, [], { op: 'task', id: 'a', task: 1 }, { seq: 0, op: 'task', id: 'a', task: 1 }, { seq: 1, op: 'task', id: '', task: 1 }, { seq: 1, op: 'task', id: 'a' }, { seq: 1, op: 'status', id: 'a', statusSeq: 0, status: status(0) }, { seq: 1, op: 'status', id: 'a', statusSeq: 1, status: {} }, { seq: 1, op: 'reported', id: 'a' }, { seq: 1, op: 'nope', id: 'a' }]) {
    t.is(typeof parseRecord(bad), 'string', JSON.stringify(bad));
  }
});

test('snapshots round trip and any damage is E_SNAPSHOT_CORRUPT naming the file', (t) => {
  const s = emptyState();
  applyAll(s, [rTask(1, 'a'), rTask(2, 'b', { deep: [1, { x: 'y' }] }), rStatus(3, 'b', 1, 64), rStatus(4, 'a', 1, 64), rReported(5, 'b', 1), rStatus(6, 'b', 2, 192)]);
  const buf = encodeSnapshot(s);
  const back = decodeSnapshot(buf, '/x/tasks.snapshot');
  t.is(back.lastSeq, 6);
  t.deepEqual([...back.tasks], [...s.tasks]);
  t.deepEqual([...back.pending.keys()], ['a', 'b']);

  const damaged: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['cut', buf.subarray(0, buf.length - 1)],
    ['bit flip', Buffer.from(buf.map((b, i) => (i === buf.length - 5 ? b ^ 0x10 : b)))],
    ['trailing bytes', Buffer.concat([buf, Buffer.from([0])])],
    ['not a snapshot', encodeFrame(Buffer.from('{"format":"other"}'))],
    ['future version', encodeFrame(Buffer.from('{"format":"berth-task-store","version":2,"lastSeq":1,"tasks":[]}'))],
    ['bad entry', encodeFrame(Buffer.from('{"format":"berth-task-store","version":1,"lastSeq":1,"tasks":[{"id":"a"}]}'))],
    [
      'duplicate task',
      encodeFrame(Buffer.from(JSON.stringify({ format: 'berth-task-store', version: 1, lastSeq: 1, tasks: [entry({ id: 'a' }), entry({ id: 'a' })] }))),
    ],
  ];
  for (const [name, b] of damaged) {
    const err = storeCode(t, () => decodeSnapshot(b, '/x/tasks.snapshot'), 'E_SNAPSHOT_CORRUPT');
    t.is(err.path, '/x/tasks.snapshot', name);
    t.regex(err.message, /\/x\/tasks\.snapshot/, name);
  }
});

// ---------------------------------------------------------------- the store on disk

/** A store with some history: 5 tasks, several statuses, an acknowledgement and a removal. */
function populate(s: TaskStore): void {
  for (let i = 0; i < 5; i++) s.putTask(`t${i}`, { id: `t${i}`, spec: { image: 'busybox', args: ['sleep', String(i)] } });
  s.putStatus('t0', status(64));
  s.putStatus('t1', status(64));
  s.putStatus('t0', status(192));
  s.markReported('t1', 1);
  s.putStatus('t2', status(512));
  s.remove('t3');
  s.putStatus('t4', status(64, 'last one, with a longer message to make the record bigger'));
}

test('round trip: what was put comes back after reopen', (t) => {
  const dir = join(tempDir(t), 'store');
  const before = withStore(dir, (s) => {
    populate(s);
    t.is(s.get('t3'), undefined);
    t.is(s.get('t0')?.statusSeq, 2);
    t.deepEqual(s.get('t0')?.status, status(192));
    t.deepEqual(s.get('t0')?.task, { id: 't0', spec: { image: 'busybox', args: ['sleep', '0'] } });
    return snapshotOf(s);
  });
  withStore(dir, (s) => {
    t.deepEqual(snapshotOf(s), before);
    t.is(s.stats().replayedRecords, 12);
    t.is(s.stats().tornTails, 0);
  });
});

test('stored values are frozen JSON copies, independent of the caller’s object', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    const task = { a: 1, gone: undefined, when: new Date(0), list: [1] };
    s.putTask('x', task);
    task.list.push(2);
    const got = s.get('x')!;
    t.deepEqual(got.task, { a: 1, when: '1970-01-01T00:00:00.000Z', list: [1] });
    t.throws(() => ((got.task as { list: number[] }).list as number[]).push(3), { instanceOf: TypeError });
    t.true(Object.isFrozen(got) && Object.isFrozen(got.task) && Object.isFrozen((got.task as { list: number[] }).list));
    // The same value again (as JSON) writes nothing.
    const seq = s.stats().lastSeq;
    t.false(s.putTask('x', { a: 1, when: new Date(0), list: [1] }));
    t.is(s.stats().lastSeq, seq);
    t.true(s.putTask('x', { a: 1, when: new Date(0), list: [1, 2] }));
    // The store keeps whatever JSON the caller's status carries, beyond the fields it checks.
    s.putStatus('x', { ...status(1), extra: { exitCode: 2, skip: undefined } } as StoredStatus);
    t.deepEqual(s.get('x')!.status, { ...status(1), extra: { exitCode: 2 } });
  });
});

test('state only increases; equal state replaces the status; identical status is a no-op', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    s.putTask('a', {});
    t.is(s.putStatus('a', status(512, 'running')), 1);
    const bytes = s.stats().logBytes;
    const err = storeCode(t, () => s.putStatus('a', status(448)), 'E_STATE_BACKWARDS');
    t.regex(err.message, /task a: state 448 is lower than the stored 512/);
    t.is(s.stats().logBytes, bytes, 'nothing written');
    t.deepEqual(s.get('a')?.status, status(512, 'running'));
    t.is(s.putStatus('a', status(512, 'still running')), 2);
    t.deepEqual(s.get('a')?.status, status(512, 'still running'));
    t.is(s.putStatus('a', status(512, 'still running')), 2);
    t.is(s.stats().lastSeq, 3);
    t.is(s.putStatus('a', status(576)), 3);
  });
  withStore(dir, (s) => {
    t.is(s.get('a')?.statusSeq, 3);
    storeCode(t, () => s.putStatus('a', status(0)), 'E_STATE_BACKWARDS');
  });
});

test('bad arguments are refused before anything is written', (t) => {
  withStore(tempDir(t), (s) => {
    storeCode(t, () => s.putStatus('nope', status(0)), 'E_NO_TASK');
    storeCode(t, () => s.putTask('', {}), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putTask(7 as unknown as string, {}), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putTask('a', undefined), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putTask('a', () => 1), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putTask('a', { n: 1n }), 'E_INVALID_ARGUMENT');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    storeCode(t, () => s.putTask('a', cyclic), 'E_INVALID_ARGUMENT');
    s.putTask('a', {});
    storeCode(t, () => s.putStatus('a', { state: 0 } as StoredStatus), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putStatus('a', { state: Number.NaN, timestamp: 't' } as StoredStatus), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.putStatus('a', { ...status(1), extra: 1n } as StoredStatus), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.markReported('a', 1), 'E_INVALID_ARGUMENT');
    storeCode(t, () => s.markReported('a', -1), 'E_INVALID_ARGUMENT');
    t.is(s.stats().lastSeq, 1);
  });
  storeCode(t, () => TaskStore.open(tempDir(t), { compactEvery: 0 }), 'E_INVALID_ARGUMENT');
  storeCode(t, () => TaskStore.open(tempDir(t), { compactBytes: 1.5 }), 'E_INVALID_ARGUMENT');
  storeCode(t, () => TaskStore.open(''), 'E_INVALID_ARGUMENT');
});

test('unreported lists the latest status per task in write order; markReported never lowers', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    for (const id of ['a', 'b', 'c']) s.putTask(id, { id });
    t.deepEqual(s.unreported(), []);
    s.putStatus('a', status(64));
    s.putStatus('b', status(64));
    s.putStatus('c', status(64));
    s.putStatus('a', status(192));
    t.deepEqual(s.unreported(), [
      { id: 'b', status: status(64), seq: 1 },
      { id: 'c', status: status(64), seq: 1 },
      { id: 'a', status: status(192), seq: 2 },
    ]);
    // The reporter sent a's seq 1 before seq 2 was written: a stays unreported at seq 2.
    s.markReported('a', 1);
    s.markReported('b', 1);
    t.deepEqual(
      s.unreported().map((u) => [u.id, u.seq]),
      [
        ['c', 1],
        ['a', 2],
      ],
    );
    const seq = s.stats().lastSeq;
    s.markReported('b', 0); // lower: ignored, nothing written
    s.markReported('b', 1); // same: ignored
    s.markReported('gone', 5); // unknown task (removed meanwhile): ignored
    t.is(s.stats().lastSeq, seq);
    t.is(s.get('b')?.reportedSeq, 1);
    s.markReported('a', 2);
    s.putStatus('b', status(192));
    t.deepEqual(
      s.unreported().map((u) => [u.id, u.seq]),
      [
        ['c', 1],
        ['b', 2],
      ],
    );
    s.remove('c');
  });
  withStore(dir, (s) => {
    t.deepEqual(
      s.unreported().map((u) => [u.id, u.seq]),
      [['b', 2]],
    );
    t.is(s.get('a')?.reportedSeq, 2);
  });
});

/** Fills a store (no compaction), closes it; returns the log bytes and where its last frame starts. */
function storeWithHistory(dir: string): { log: Buffer; lastOffset: number; before: ReturnType<typeof snapshotOf>; after: ReturnType<typeof snapshotOf> } {
  let before!: ReturnType<typeof snapshotOf>;
  const after = withStore(dir, (s) => {
    populate(s);
    s.putTask('t9', { id: 't9' });
    before = snapshotOf(s);
    s.putStatus('t9', status(64, 'the record that gets torn, ' + 'x'.repeat(40)));
    return snapshotOf(s);
  });
  const log = readFileSync(join(dir, LOG_FILE));
  const frames = decodeFrames(log).frames;
  return { log, lastOffset: frames.at(-1)!.offset, before, after };
}

test('a torn last record, cut at every byte, loads with all earlier records intact', (t) => {
  const root = tempDir(t);
  const src = join(root, 'src');
  const { log, lastOffset, before, after } = storeWithHistory(src);
  t.true(log.length - lastOffset > 100);
  for (let cut = lastOffset; cut <= log.length; cut++) {
    const dir = join(root, `cut${cut}`);
    cpSync(src, dir, { recursive: true });
    writeFileSync(join(dir, LOG_FILE), log.subarray(0, cut));
    withStore(
      dir,
      (s) => {
        const torn = cut > lastOffset && cut < log.length;
        t.deepEqual(snapshotOf(s), cut === log.length ? after : before, `cut at ${cut}`);
        t.is(s.stats().tornTails, torn ? 1 : 0, `cut at ${cut}`);
        t.is(s.stats().truncatedBytes, torn ? cut - lastOffset : 0);
        // The tail is gone from the file, and new writes land after the last good record.
        t.is(statSync(join(dir, LOG_FILE)).size, torn ? lastOffset : cut);
        if (cut < log.length) s.putStatus('t9', status(64, 'rewritten'));
      },
      { fsync: false },
    );
    withStore(dir, (s) => {
      t.is(s.get('t9')?.status?.message, cut === log.length ? after.list.at(-1)!.status!.message : 'rewritten');
      t.is(s.stats().tornTails, 0);
      t.false(s.stats().lossy);
    });
    rmSync(dir, { recursive: true });
  }
});

test('a bit flip anywhere in the last record drops that record only', (t) => {
  const root = tempDir(t);
  const src = join(root, 'src');
  const { log, lastOffset, before } = storeWithHistory(src);
  const dir = join(root, 'flip');
  cpSync(src, dir, { recursive: true });
  for (let byte = lastOffset; byte < log.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const damaged = Buffer.from(log);
      damaged[byte]! ^= 1 << bit;
      writeFileSync(join(dir, LOG_FILE), damaged);
      withStore(
        dir,
        (s) => {
          t.deepEqual(snapshotOf(s), before, `byte ${byte} bit ${bit}`);
          t.is(s.stats().tornTails, 1);
        },
        { fsync: false },
      );
    }
  }
});

test('a damaged record with intact records after it refuses to open with E_STORE_DAMAGED and leaves the file as it was', (t) => {
  const root = tempDir(t);
  const src = join(root, 'src');
  const { log } = storeWithHistory(src);
  const frames = decodeFrames(log).frames;
  const mid = frames[6]!;
  t.true(frames.length > 8);
  // Every way one frame can go bad: payload, checksum, length field (shorter, longer, huge), all zero.
  const damages: Array<[string, (b: Buffer) => void]> = [
    ['payload bit', (b) => void (b[mid.end - 2]! ^= 0x01)],
    ['crc bit', (b) => void (b[mid.offset + 5]! ^= 0x10)],
    ['length one shorter', (b) => b.writeUInt32LE(b.readUInt32LE(mid.offset) - 1, mid.offset)],
    ['length one longer', (b) => b.writeUInt32LE(b.readUInt32LE(mid.offset) + 1, mid.offset)],
    ['length huge', (b) => void (b[mid.offset + 3]! ^= 0x80)],
    ['zeroed frame', (b) => b.fill(0, mid.offset, mid.end)],
  ];
  const logPath = join(src, LOG_FILE);
  for (const [name, damage] of damages) {
    const damaged = Buffer.from(log);
    damage(damaged);
    writeFileSync(logPath, damaged);
    const err = storeCode(t, () => TaskStore.open(src), 'E_STORE_DAMAGED');
    t.is(err.path, logPath, name);
    t.true(err.message.includes(logPath), name);
    t.true(err.message.includes(`byte ${mid.offset}`), `${name}: ${err.message}`);
    t.regex(err.message, /backup/, name);
    t.regex(err.message, /aside/, name);
    t.true(readFileSync(logPath).equals(damaged), `${name}: the file is unchanged`);
  }
  // The failed opens left nothing locked: with the frame repaired, everything is back.
  writeFileSync(logPath, log);
  withStore(src, (s) => t.is(s.stats().lastSeq, frames.length));
});

test('records A and B, then a torn partial frame: opens with A and B and cuts the partial frame', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    s.putTask('a', { n: 1 });
    s.putTask('b', { n: 2 });
  });
  const logPath = join(dir, LOG_FILE);
  const ab = readFileSync(logPath);
  const c = encodeFrame(Buffer.from(JSON.stringify({ seq: 3, op: 'task', id: 'c', task: { n: 3 } })));
  for (let cut = 1; cut < c.length; cut++) {
    writeFileSync(logPath, Buffer.concat([ab, c.subarray(0, cut)]));
    withStore(dir, (s) => {
      t.deepEqual(
        s.list().map((r) => r.id),
        ['a', 'b'],
        `cut at ${cut}`,
      );
      t.is(s.stats().tornTails, 1);
      t.is(s.stats().truncatedBytes, cut);
      // A write that never finished lost nothing that had been stored.
      t.false(s.stats().lossy);
      t.is(s.recoveryLoss(), undefined);
    });
    t.true(readFileSync(logPath).equals(ab), `cut at ${cut}: the partial frame is gone`);
  }
});

test('a cut tail is lossy only when it held a whole frame: zeros and short frames are not', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    s.putTask('a', { n: 1 });
    s.putTask('b', { n: 2 });
  });
  const logPath = join(dir, LOG_FILE);
  const ab = readFileSync(logPath);
  const c = encodeFrame(Buffer.from(JSON.stringify({ seq: 3, op: 'task', id: 'c', task: { n: 3 } })));
  const badCrc = Buffer.from(c);
  badCrc[c.length - 3]! ^= 0x20;
  const huge = Buffer.from(c);
  huge.writeUInt32LE(0xfffffff0, 0);
  const cases: Array<[string, Buffer, boolean]> = [
    ['zeros (file grew before its data reached the disk)', Buffer.alloc(c.length), false],
    ['short payload', c.subarray(0, c.length - 1), false],
    ['short header', c.subarray(0, 5), false],
    ['whole frame, bad crc', badCrc, true],
    ['whole frame, bad json', encodeFrame(Buffer.from('{"seq":3,')), true],
    ['length no record has', huge, true],
  ];
  for (const [name, tail, lossy] of cases) {
    writeFileSync(logPath, Buffer.concat([ab, tail]));
    withStore(dir, (s) => {
      t.deepEqual(
        s.list().map((r) => r.id),
        ['a', 'b'],
        name,
      );
      t.is(s.stats().tornTails, 1, name);
      t.is(s.stats().lossy, lossy, name);
      const why = s.recoveryLoss();
      if (lossy) {
        t.true(why?.includes(logPath), name);
        t.true(why?.includes(`byte ${ab.length}`), name);
      } else {
        t.is(why, undefined, name);
      }
    });
    t.true(readFileSync(logPath).equals(ab), name);
    // The next open finds nothing to cut and nothing lost.
    withStore(dir, (s) => t.is(s.recoveryLoss(), undefined));
  }
});

test('a checksummed record that cannot apply is E_LOG_INVALID, not silently dropped', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => s.putTask('a', {}));
  const bogus = [encodeFrame(Buffer.from('{"seq":2,"op":"frobnicate","id":"a"}')), encodeFrame(Buffer.from(JSON.stringify(rStatus(3, 'a', 1, 0))))];
  const log = readFileSync(join(dir, LOG_FILE));
  for (const frame of bogus) {
    writeFileSync(join(dir, LOG_FILE), Buffer.concat([log, frame]));
    const err = storeCode(t, () => TaskStore.open(dir), 'E_LOG_INVALID');
    t.is(err.path, join(dir, LOG_FILE));
  }
  // A failed open leaves the directory usable.
  writeFileSync(join(dir, LOG_FILE), log);
  withStore(dir, (s) => t.truthy(s.get('a')));
});

test('compaction keeps the state, drops removed tasks and shrinks the files', (t) => {
  const dir = tempDir(t);
  const before = withStore(
    dir,
    (s) => {
      for (let i = 0; i < 10; i++) s.putTask(`t${i}`, { id: `t${i}`, payload: 'p'.repeat(100) });
      for (let round = 0; round < 20; round++) for (let i = 0; i < 10; i++) s.putStatus(`t${i}`, status(round, `round ${round}`));
      s.remove('t7');
      s.markReported('t1', 20);
      t.is(s.stats().compactions, 0);
      const logBefore = s.stats().logBytes;
      const view = snapshotOf(s);
      s.compact();
      const st = s.stats();
      t.is(st.compactions, 1);
      t.is(st.logBytes, 0);
      t.is(st.logRecords, 0);
      t.is(statSync(join(dir, LOG_FILE)).size, 0);
      t.true(st.snapshotBytes < logBefore / 5, `snapshot ${st.snapshotBytes} vs log ${logBefore}`);
      t.deepEqual(snapshotOf(s), view);
      const onDisk = readFileSync(join(dir, SNAPSHOT_FILE), 'utf8');
      t.false(onDisk.includes('"t7"'));
      t.true(onDisk.includes('"t6"'));
      s.putStatus('t0', status(30));
      return snapshotOf(s);
    },
    { compactEvery: 10_000 },
  );
  withStore(dir, (s) => {
    t.deepEqual(snapshotOf(s), before);
    t.is(s.stats().replayedRecords, 1);
  });
  t.deepEqual(readdirSync(dir).sort(), [LOG_FILE, SNAPSHOT_FILE]);
});

test('writes compact on their own after compactEvery records or compactBytes', (t) => {
  const dir = tempDir(t);
  withStore(
    dir,
    (s) => {
      s.putTask('a', {});
      for (let i = 0; i < 34; i++) s.putStatus('a', status(i));
      // 35 records with compactEvery 10: compactions before records 11, 21, 31.
      t.is(s.stats().compactions, 3);
      t.is(s.stats().logRecords, 5);
    },
    { compactEvery: 10 },
  );
  withStore(
    dir,
    (s) => {
      for (let i = 0; i < 20; i++) s.putTask('big', { blob: 'b'.repeat(1000), i });
      t.true(s.stats().compactions >= 4, String(s.stats().compactions));
      t.true(s.stats().logBytes < 5000);
    },
    { compactBytes: 4096 },
  );
  withStore(dir, (s) => {
    t.is(s.get('a')?.statusSeq, 34);
    t.deepEqual(s.get('big')?.task, { blob: 'b'.repeat(1000), i: 19 });
  });
});

/** Runs fn with a hook that copies the store's files when compaction reaches `phase`. */
function copyAtPhase(dir: string, phase: CompactEvent['phase'], copyTo: string, fn: () => void): void {
  const onCompact = (msg: unknown) => {
    const ev = msg as CompactEvent;
    if (ev.dir === dir && ev.phase === phase) cpSync(dir, copyTo, { recursive: true });
  };
  subscribe(COMPACT_CHANNEL, onCompact);
  try {
    fn();
  } finally {
    unsubscribe(COMPACT_CHANNEL, onCompact);
  }
}

test('a crash between writing the snapshot and resetting the log replays nothing twice', (t) => {
  const root = tempDir(t);
  const dir = join(root, 'live');
  const crashed = join(root, 'crashed');
  const beginCopy = join(root, 'begin');
  let logRecords = 0;
  const view = withStore(dir, (s) => {
    populate(s);
    s.compact();
    s.putStatus('t0', status(512));
    s.putStatus('t2', status(576));
    s.markReported('t2', 2);
    const v = snapshotOf(s);
    logRecords = s.stats().logRecords;
    copyAtPhase(dir, 'begin', beginCopy, () => copyAtPhase(dir, 'snapshot', crashed, () => s.compact()));
    return v;
  });
  // At 'snapshot' the new snapshot holds everything and the old log is still full.
  t.true(statSync(join(crashed, LOG_FILE)).size > 0);
  withStore(crashed, (s) => {
    t.deepEqual(snapshotOf(s), view);
    t.is(s.stats().skippedRecords, logRecords);
    t.is(s.stats().replayedRecords, 0);
    t.is(s.get('t0')?.statusSeq, 3);
    // It carries on from there, and the stale records stay harmless across more reopens.
    t.is(s.putStatus('t0', status(576)), 4);
  });
  withStore(crashed, (s) => {
    t.is(s.get('t0')?.statusSeq, 4);
    t.is(s.stats().skippedRecords, logRecords);
    t.is(s.stats().replayedRecords, 1);
    s.compact();
  });
  withStore(crashed, (s) => {
    t.is(s.stats().logRecords, 0);
    t.is(s.get('t0')?.statusSeq, 4);
  });
  // At 'begin' nothing has changed yet: the old snapshot plus the full log.
  withStore(beginCopy, (s) => {
    t.deepEqual(snapshotOf(s), view);
    t.is(s.stats().replayedRecords, logRecords);
  });
});

test('a compaction that cannot write its snapshot fails cleanly and the store carries on', (t) => {
  const dir = tempDir(t);
  withStore(
    dir,
    (s) => {
      populate(s);
      const view = snapshotOf(s);
      // A directory where the tmp snapshot goes makes the snapshot write fail (even as root).
      mkdirSync(join(dir, 'tasks.snapshot.tmp'));
      const err = storeCode(t, () => s.compact(), 'E_IO');
      t.is(err.path, join(dir, SNAPSHOT_FILE));
      // A write that triggers compaction fails the same way, before writing anything.
      storeCode(t, () => s.putStatus('t0', status(256)), 'E_IO');
      t.deepEqual(snapshotOf(s), view);
      rmSync(join(dir, 'tasks.snapshot.tmp'), { recursive: true });
      t.is(s.putStatus('t0', status(256)), 3);
      t.is(s.stats().compactions, 1);
    },
    { compactEvery: 12 },
  );
  withStore(dir, (s) => t.is(s.get('t0')?.status?.state, 256));
});

test('a leftover snapshot tmp file from a crash is ignored and removed', (t) => {
  const dir = tempDir(t);
  const view = withStore(dir, (s) => {
    populate(s);
    return snapshotOf(s);
  });
  writeFileSync(join(dir, 'tasks.snapshot.tmp'), 'half a snapsh');
  withStore(dir, (s) => t.deepEqual(snapshotOf(s), view));
  t.deepEqual(readdirSync(dir), [LOG_FILE]);
});

test('a damaged snapshot refuses to open with E_SNAPSHOT_CORRUPT and the path', (t) => {
  const dir = tempDir(t);
  withStore(dir, (s) => {
    populate(s);
    s.compact();
  });
  const path = join(dir, SNAPSHOT_FILE);
  const snap = readFileSync(path);
  snap[20]! ^= 0x04;
  writeFileSync(path, snap);
  const err = storeCode(t, () => TaskStore.open(dir), 'E_SNAPSHOT_CORRUPT');
  t.is(err.path, path);
  t.true(err.message.includes(path));
  t.regex(err.message, /Move the store directory aside/);
  // Not locked by the failed attempt.
  writeFileSync(path, Buffer.from(snap.map((b, i) => (i === 20 ? b ^ 0x04 : b))));
  withStore(dir, (s) => t.is(s.list().length, 4));
});

test('close, reopen, one handle per directory, and no use after close', (t) => {
  const dir = tempDir(t);
  const s = TaskStore.open(dir);
  s.putTask('a', { v: 1 });
  storeCode(t, () => TaskStore.open(dir), 'E_LOCKED');
  storeCode(t, () => TaskStore.open(join(dir, '.', '')), 'E_LOCKED');
  s.close();
  s.close();
  for (const fn of [() => s.putTask('b', {}), () => s.putStatus('a', status(1)), () => s.get('a'), () => s.list(), () => s.unreported(), () => s.compact(), () => s.remove('a'), () => s.markReported('a', 0)]) {
    storeCode(t, fn, 'E_CLOSED');
  }
  t.is(s.stats().lastSeq, 1);
  for (let i = 0; i < 3; i++) {
    withStore(dir, (r) => {
      t.deepEqual(r.get('a')?.task, { v: 1 });
      t.is(r.putStatus('a', status(i)), i + 1);
    });
  }
});

test('files are 0600 and a new directory 0700', (t) => {
  const root = tempDir(t);
  const dir = join(root, 'a', 'b');
  withStore(dir, (s) => {
    populate(s);
    s.compact();
  });
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(statSync(join(root, 'a')).mode & 0o777, 0o700);
  for (const f of readdirSync(dir)) t.is(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  chmodSync(join(dir, LOG_FILE), 0o644);
  withStore(dir, () => undefined);
  t.is(statSync(join(dir, LOG_FILE)).mode & 0o777, 0o600);
});

test('durable(): writes made together share one fdatasync; writes during a sync get the next one', async (t) => {
  const dir = tempDir(t);
  const s = TaskStore.open(dir);
  await s.durable();
  t.is(s.stats().syncs, 0, 'nothing written, nothing to sync');
  for (let i = 0; i < 50; i++) s.putTask(`t${i}`, { i });
  await Promise.all(Array.from({ length: 50 }, () => s.durable()));
  t.is(s.stats().syncs, 1, 'one fdatasync for fifty writes');
  await s.durable();
  t.is(s.stats().syncs, 1, 'nothing new since: no sync');

  s.putStatus('t0', status(1));
  const first = s.durable();
  s.putStatus('t1', status(1)); // lands while the first sync may already run
  const second = s.durable();
  await Promise.all([first, second]);
  t.true(s.stats().syncs === 2 || s.stats().syncs === 3, `one or two more syncs, got ${s.stats().syncs - 1}`);

  // close() syncs what is left and lets a running sync finish on its own fd.
  s.putStatus('t2', status(1));
  const pending = s.durable();
  s.close();
  await t.notThrowsAsync(pending);
  await t.notThrowsAsync(s.durable(), 'nothing left to sync after close');
  withStore(dir, (r) => t.is<number | undefined, number>(r.get('t2')?.status?.state, 1));
});

test('durable() with fsync: false resolves at once and never syncs', async (t) => {
  const s = TaskStore.open(tempDir(t), { fsync: false });
  s.putTask('a', {});
  await s.durable();
  t.is(s.stats().syncs, 0);
  s.close();
});
