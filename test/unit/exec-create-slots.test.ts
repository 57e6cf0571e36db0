// CreateSlots: at most `size` container creates in the engine at once, the rest in arrival
// order; a wait cut by its task's abort leaves the queue. The creates here are deferred promises
// the test settles at will (no engine: the slots never call one).
import test from 'ava';
import { CreateSlots, isAbort } from '../../agent/exec/docker/engine.js';

function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

test('no more than size creates run at once; the others start in arrival order as slots free', async (t) => {
  const slots = new CreateSlots(2, 60_000);
  const started: number[] = [];
  const creates = [0, 1, 2, 3].map(() => deferred<string>());
  const runs = creates.map((d, i) =>
    slots.run(() => {
      started.push(i);
      return d.promise;
    }),
  );
  await turn();
  t.deepEqual(started, [0, 1]);
  creates[1]!.resolve('b');
  t.is(await runs[1], 'b');
  await turn();
  t.deepEqual(started, [0, 1, 2]);
  // A failed create frees its slot too.
  creates[0]!.reject(Object.assign(new Error('conflict'), { statusCode: 409 }));
  await t.throwsAsync(runs[0]!, { message: 'conflict' });
  await turn();
  t.deepEqual(started, [0, 1, 2, 3]);
  creates[2]!.resolve('c');
  creates[3]!.resolve('d');
  t.deepEqual(await Promise.all([runs[2], runs[3]]), ['c', 'd']);
  // All slots free again: the next create starts without waiting for any other.
  const next = slots.run(async () => 'e');
  t.is(await next, 'e');
});

test('an abort while waiting for a slot rejects with an AbortError and gives up the place in line', async (t) => {
  const slots = new CreateSlots(1, 60_000);
  const first = deferred<string>();
  const running = slots.run(() => first.promise);
  const ac = new AbortController();
  let abortedRan = false;
  const aborted = slots.run(async () => {
    abortedRan = true;
    return 'never';
  }, ac.signal);
  const started: string[] = [];
  const after = slots.run(async () => {
    started.push('after');
    return 'after';
  });
  ac.abort();
  const err = await t.throwsAsync(aborted);
  t.true(isAbort(err));
  first.resolve('first');
  t.is(await running, 'first');
  t.is(await after, 'after');
  t.false(abortedRan);
  t.deepEqual(started, ['after']);
  // A signal aborted before the call never queues.
  const blocker = deferred<string>();
  const held = slots.run(() => blocker.promise);
  const pre = new AbortController();
  pre.abort();
  t.true(isAbort(await t.throwsAsync(slots.run(async () => 'x', pre.signal))));
  blocker.resolve('held');
  t.is(await held, 'held');
});

test('a create running past holdMaxMs gives its slot to the next and still resolves', async (t) => {
  const slots = new CreateSlots(1, 50);
  const stuck = deferred<string>();
  const first = slots.run(() => stuck.promise);
  const second = slots.run(async () => 'second');
  t.is(await second, 'second', 'the second create ran while the first was still in the engine');
  stuck.resolve('first');
  t.is(await first, 'first');
  // The late finish does not free a slot twice: one slot, so a held one still holds the next back.
  const hold = deferred<string>();
  const a = slots.run(() => hold.promise);
  let bRan = false;
  const b = slots.run(async () => {
    bRan = true;
    return 'b';
  });
  await turn();
  t.false(bRan);
  hold.resolve('a');
  t.deepEqual(await Promise.all([a, b]), ['a', 'b']);
});
