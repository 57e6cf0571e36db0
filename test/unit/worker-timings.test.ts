// The worker times each task it was assigned: when the assignment arrived, when each state was
// stored, and when the manager acknowledged RUNNING (what `agentctl task` and the tasks
// benchmark show). The controller here is a fake (named so) that succeeds at once: the test is
// about the worker's bookkeeping, not the engine.
import test from 'ava';
import type { AssignmentsMessage } from '../../agent/proto/api.js';
import type { Controller, Executor } from '../../agent/exec/executor.js';
import { InMemoryDependencies } from '../../agent/exec/dependencies.js';
import { AssignmentAction, AssignmentsType } from '../../agent/proto/enums.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { Worker, type WorkerStore } from '../../agent/worker/worker.js';
import { makeTask } from './exec-fixture.js';

function fakeController(): Controller {
  return {
    prepare: async () => undefined,
    start: async () => undefined,
    wait: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
    shutdown: async () => undefined,
    terminate: async () => undefined,
    remove: async () => undefined,
    close: () => undefined,
  };
}

test('a task assigned while the worker runs carries its timings until it is removed; a resumed one carries none', async (t) => {
  const resumed = makeTask();
  const store: WorkerStore = {
    putTask: () => true,
    putStatus: () => undefined,
    remove: () => undefined,
    list: () => [{ id: resumed.id, task: JSON.parse(JSON.stringify(resumed)), status: { state: TaskState.RUNNING, message: 'started', timestamp: new Date().toISOString() } }],
  };
  const executor = { dependencies: new InMemoryDependencies(), controller: () => fakeController() } as unknown as Executor;
  let statuses = 0;
  const worker = new Worker({ store, executor, onStatus: () => statuses++, log: () => undefined });
  t.teardown(() => worker.close());
  worker.init();
  const task = makeTask();
  const before = Date.now();
  await worker.assign({ type: AssignmentsType.COMPLETE, applies_to: '', results_in: 'v1', changes: [task, resumed].map((x) => ({ assignment: { task: x }, action: AssignmentAction.UPDATE })) } as unknown as AssignmentsMessage);
  for (let i = 0; i < 100 && worker.task(task.id)?.state !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 5));
  const timings = worker.task(task.id)!.timings!;
  t.truthy(timings);
  t.true(timings.assigned >= before - 1 && timings.assigned <= Date.now() + 1);
  t.deepEqual(Object.keys(timings.stored), ['ACCEPTED', 'PREPARING', 'READY', 'STARTING', 'RUNNING']);
  const order = Object.values(timings.stored);
  t.deepEqual([...order].sort((a, b) => a - b), order, 'in the order the states were stored');
  t.true(order[0]! >= timings.assigned);
  t.is(timings.runningReported, undefined, 'not acknowledged yet');
  worker.statusesReported([{ id: task.id, state: TaskState.STARTING }]);
  t.is(worker.task(task.id)!.timings!.runningReported, undefined, 'an earlier state acknowledged is not RUNNING acknowledged');
  worker.statusesReported([{ id: task.id, state: TaskState.RUNNING }]);
  t.true(worker.task(task.id)!.timings!.runningReported! >= order[4]!);
  t.is(worker.task(resumed.id)!.timings, undefined, 'a task resumed from the store is not timed');
  t.true(statuses >= 5);
  await worker.assign({ type: AssignmentsType.INCREMENTAL, applies_to: 'v1', results_in: 'v2', changes: [{ assignment: { task }, action: AssignmentAction.REMOVE }] } as unknown as AssignmentsMessage);
  t.is(worker.task(task.id), undefined);
});
