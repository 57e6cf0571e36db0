// A COMPLETE set that drops many tasks (a restart after missed REMOVEs) must not hold the next
// assignment behind their removal. The controller is a fake (named so) whose remove() takes as
// long as the test says: a slow engine is the fault injected here; the worker's queue is real.
import test from 'ava';
import type { AssignmentsMessage, Task } from '../../agent/proto/api.js';
import type { Controller, Executor } from '../../agent/exec/executor.js';
import { InMemoryDependencies } from '../../agent/exec/dependencies.js';
import { AssignmentAction, AssignmentsType } from '../../agent/proto/enums.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { Worker, type WorkerStore } from '../../agent/worker/worker.js';
import { makeTask } from './exec-fixture.js';

const REMOVE_MS = 100;
const DROPPED = 40;

function slowRemoveController(calls: { removing: number; peak: number; shutdowns: string[] }, task: Task): Controller {
  return {
    prepare: async () => undefined,
    start: async () => undefined,
    wait: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
    shutdown: async () => void calls.shutdowns.push(task.id),
    terminate: async () => undefined,
    remove: async () => {
      calls.removing++;
      calls.peak = Math.max(calls.peak, calls.removing);
      await new Promise((r) => setTimeout(r, REMOVE_MS));
      calls.removing--;
    },
    close: () => undefined,
  };
}

const set = (type: number, appliesTo: string, resultsIn: string, tasks: Task[]) =>
  ({ type, applies_to: appliesTo, results_in: resultsIn, changes: tasks.map((x) => ({ assignment: { task: x }, action: AssignmentAction.UPDATE })) }) as unknown as AssignmentsMessage;

test('a COMPLETE set dropping 40 slowly removed tasks applies at once; the next update acts before they are gone; records go only once removed', async (t) => {
  const stale = Array.from({ length: DROPPED }, () => makeTask());
  const kept = { ...makeTask(), desired_state: TaskState.READY } as Task;
  const removedRecords: string[] = [];
  const now = new Date().toISOString();
  const store: WorkerStore = {
    putTask: () => true,
    putStatus: () => undefined,
    remove: (id) => void removedRecords.push(id),
    list: () => [
      ...stale.map((x) => ({ id: x.id, task: JSON.parse(JSON.stringify(x)) as Task, status: { state: TaskState.RUNNING, message: 'started', timestamp: now } })),
      { id: kept.id, task: JSON.parse(JSON.stringify(kept)) as Task, status: { state: TaskState.READY, message: 'prepared', timestamp: now } },
    ],
  };
  const calls = { removing: 0, peak: 0, shutdowns: [] as string[] };
  const executor = { dependencies: new InMemoryDependencies(), controller: (task: Task) => slowRemoveController(calls, task) } as unknown as Executor;
  const worker = new Worker({ store, executor, onStatus: () => undefined, log: () => undefined });
  t.teardown(() => worker.close());
  worker.init();

  const t0 = Date.now();
  await worker.assign(set(AssignmentsType.COMPLETE, '', 'v1', [kept]));
  const applyMs = Date.now() - t0;
  t.true(applyMs < (DROPPED * REMOVE_MS) / 4, `the set applied in ${applyMs} ms, not after ${DROPPED} removals one by one`);
  t.deepEqual(
    worker.tasks().map((v) => v.id),
    [kept.id],
    'the dropped tasks left the view at once',
  );

  await worker.assign(set(AssignmentsType.INCREMENTAL, 'v1', 'v2', [{ ...kept, desired_state: TaskState.SHUTDOWN } as Task]));
  for (let i = 0; i < 200 && worker.task(kept.id)?.state !== 'SHUTDOWN'; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(worker.task(kept.id)?.state, 'SHUTDOWN', 'the shutdown acted while removals were still running');
  t.true(removedRecords.length < DROPPED, `only ${removedRecords.length} records gone when the shutdown was done`);

  await worker.removalsSettled();
  t.deepEqual([...removedRecords].sort(), stale.map((x) => x.id).sort(), 'each record removed once its resources were');
  t.true(calls.peak > 1 && calls.peak <= 8, `removals ran side by side, at most 8 (peak ${calls.peak})`);
});

test('a removal retried after a failure keeps the record of a task assigned again while it ran', async (t) => {
  const task = makeTask();
  const removedRecords: string[] = [];
  const store: WorkerStore = { putTask: () => true, putStatus: () => undefined, remove: (id) => void removedRecords.push(id), list: () => [] };
  let removeCalls = 0;
  let retryRunning: (() => void) | undefined;
  const retryStarted = new Promise<void>((r) => (retryRunning = r));
  const controller: Controller = {
    prepare: async () => undefined,
    start: async () => undefined,
    wait: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
    shutdown: async () => undefined,
    terminate: async () => undefined,
    remove: async () => {
      removeCalls++;
      if (removeCalls === 1) throw new Error('fake engine: removal refused once');
      retryRunning!();
      await new Promise((r) => setTimeout(r, 300));
    },
    close: () => undefined,
  };
  const executor = { dependencies: new InMemoryDependencies(), controller: () => controller } as unknown as Executor;
  const worker = new Worker({ store, executor, onStatus: () => undefined, log: () => undefined });
  t.teardown(() => worker.close());
  worker.init();

  await worker.assign(set(AssignmentsType.COMPLETE, '', 'v1', [{ ...task, desired_state: TaskState.READY } as Task]));
  await worker.assign(set(AssignmentsType.COMPLETE, 'v1', 'v2', []));
  await worker.removalsSettled();
  t.is(removeCalls, 1, 'the first removal failed');
  t.deepEqual(removedRecords, [], 'its record kept for the retry');

  // The retry's timer is unref'd (it must not hold a closing agent): this one keeps the test alive.
  const alive = setInterval(() => undefined, 100);
  t.teardown(() => clearInterval(alive));
  await retryStarted;
  await worker.assign(set(AssignmentsType.COMPLETE, 'v2', 'v3', [{ ...task, desired_state: TaskState.READY } as Task]));
  await new Promise((r) => setTimeout(r, 500));
  t.is(removeCalls, 2, 'the retry ran');
  t.deepEqual(removedRecords, [], 'the task assigned again while the retry ran keeps its record');
  t.truthy(worker.task(task.id), 'and stays in the view');
});
