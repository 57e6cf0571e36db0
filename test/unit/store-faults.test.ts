// A task store write that fails (EIO, a full disk) must not take agentd down: before the fix a
// failed status write in TaskRunner.loop() or in the reporter's markReported was an unhandled
// rejection, and Node ends the process on one. The store here is a real TaskStore in a temp
// dir behind FaultInjectingStore, a fake (named so): EIO cannot be produced on demand for
// real. The full-disk case runs against real parts in test/interop/store-enospc.test.ts.
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AssignmentsMessage, Task } from '../../agent/proto/api.js';
import type { Controller, Executor } from '../../agent/exec/executor.js';
import { InMemoryDependencies } from '../../agent/exec/dependencies.js';
import { AssignmentAction, AssignmentsType } from '../../agent/proto/enums.js';
import { Worker } from '../../agent/worker/worker.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { StatusReporter, type StatusSender } from '../../agent/session/reporter.js';
import type { StatusUpdate } from '../../agent/session/session.js';
import { RetryingTaskStore, StateWrites, StoreError, TaskStore, type StoredStatus } from '../../agent/store/index.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { makeTask } from './exec-fixture.js';

type WriteOp = 'putTask' | 'putStatus' | 'markReported' | 'remove' | 'durable';

/** FAKE: a real TaskStore whose chosen writes throw EIO (as the store reports it) while `failing` names them. */
class FaultInjectingStore {
  failing = new Set<WriteOp>();
  failures = 0;
  opens = 1;
  constructor(public real: TaskStore) {}
  /** What RetryingTaskStore calls to reopen a handle that failed half way. */
  reopen(): this {
    this.opens++;
    this.real = TaskStore.open(this.real.dir, { fsync: false });
    return this;
  }
  private check(op: WriteOp): void {
    if (!this.failing.has(op)) return;
    this.failures++;
    const cause = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' });
    // A failed fdatasync leaves the real store unusable until it is reopened.
    if (op === 'durable') throw new StoreError('E_STORE_FAILED', `syncing ${this.real.dir}/tasks.log failed half way (${cause.message})`, { cause, path: this.real.dir });
    throw new StoreError('E_IO', `appending to ${this.real.dir}/tasks.log: ${cause.message}`, { cause, path: this.real.dir });
  }
  putTask(id: string, task: unknown): boolean {
    this.check('putTask');
    return this.real.putTask(id, task);
  }
  putStatus(id: string, status: StoredStatus): number {
    this.check('putStatus');
    return this.real.putStatus(id, status);
  }
  markReported(id: string, seq: number): void {
    this.check('markReported');
    this.real.markReported(id, seq);
  }
  remove(id: string): boolean {
    this.check('remove');
    return this.real.remove(id);
  }
  list() {
    return this.real.list();
  }
  get(id: string) {
    return this.real.get(id);
  }
  unreported() {
    return this.real.unreported();
  }
  async durable() {
    this.check('durable');
    return this.real.durable();
  }
  compact() {
    this.real.compact();
  }
  recoveryLoss() {
    return this.real.recoveryLoss();
  }
  close() {
    this.real.close();
  }
}

/** Records what reached the "manager", and checks each status was stored when it was sent. */
class CheckingSender implements StatusSender {
  closed = false;
  readonly sent: StatusUpdate[] = [];
  readonly unstored: string[] = [];
  constructor(private readonly store: FaultInjectingStore) {}
  async sendStatuses(updates: readonly StatusUpdate[]): Promise<void> {
    for (const u of updates) {
      const stored = this.store.real.get(u.taskId)?.status?.state ?? -1;
      if ((u.status.state as number) > stored) this.unstored.push(`${u.taskId}: sent ${u.status.state}, stored ${stored}`);
      this.sent.push(u);
    }
  }
}

/** A controller that starts at once and runs until shut down. */
function runningController(calls: string[]): Controller {
  let exit: (() => void) | undefined;
  return {
    prepare: async () => void calls.push('prepare'),
    start: async () => void calls.push('start'),
    wait: (signal) =>
      new Promise((resolve, reject) => {
        exit = () => resolve({ exitCode: 0 });
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      }),
    shutdown: async () => {
      calls.push('shutdown');
      exit?.();
    },
    terminate: async () => undefined,
    remove: async () => void calls.push('remove'),
    close: () => undefined,
  };
}

function assignment(task: Task): AssignmentsMessage {
  return {
    type: AssignmentsType.COMPLETE,
    applies_to: '',
    results_in: 'v1',
    changes: [{ assignment: { task }, action: AssignmentAction.UPDATE }],
  } as unknown as AssignmentsMessage;
}

function setup(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-faults-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const faulty = new FaultInjectingStore(TaskStore.open(dir, { fsync: false }));
  t.teardown(() => faulty.close());
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  const calls: string[] = [];
  const executor = { dependencies: new InMemoryDependencies(), controller: () => runningController(calls) } as unknown as Executor;
  const logs: Array<{ level: string; msg: string }> = [];
  const log = (level: string, msg: string) => void logs.push({ level, msg });
  // As agent.ts wires them: one StateWrites retries what the store refused, then lets the
  // worker start what waited and the reporter send what is now stored.
  const writes: StateWrites = new StateWrites({
    log,
    onProgress: () => {
      worker.storeProgressed();
      reporter.notify();
    },
  });
  t.teardown(() => void writes.close());
  let opened = false;
  const store = new RetryingTaskStore(() => (opened ? faulty.reopen() : ((opened = true), faulty)), writes);
  const reporter = new StatusReporter(store, log);
  const worker = new Worker({ store, executor, onStatus: () => reporter.notify(), log });
  t.teardown(() => worker.close());
  const sender = new CheckingSender(faulty);
  reporter.setSender(sender);
  return { faulty, worker, reporter, sender, calls, unhandled, logs, writes };
}

test.serial('a status write that fails does not end the process; the task keeps going and its status is stored and reported once the disk is back', async (t) => {
  const { faulty, worker, sender, calls, unhandled } = setup(t);
  faulty.failing.add('putStatus');
  const task = makeTask({}, { desired_state: TaskState.RUNNING as Task['desired_state'] });
  await worker.assign(assignment(task));
  t.truthy(faulty.real.get(task.id), 'the task itself was stored');

  await waitFor('the task started although no status could be stored', async () => calls.includes('start'), 10_000);
  await waitFor('a failed status write', async () => faulty.failures > 0, 10_000);
  t.deepEqual(unhandled, [], 'no unhandled rejection');
  t.is(faulty.real.get(task.id)?.status, undefined, 'nothing stored while the disk fails');
  t.deepEqual(sender.sent, [], 'nothing reported that was not stored');

  faulty.failing.clear();
  await waitFor(
    'RUNNING stored and reported',
    async () => faulty.real.get(task.id)?.status?.state === TaskState.RUNNING && sender.sent.some((u) => u.taskId === task.id && (u.status.state as number) === TaskState.RUNNING),
    15_000,
  );
  await waitFor('the report marked in the store', async () => faulty.real.unreported().length === 0, 15_000);
  t.deepEqual(sender.unstored, [], 'every status sent was stored first');
  t.deepEqual(unhandled, []);
  t.is(calls.filter((c) => c === 'start').length, 1, 'started once');
});

test.serial("a failing markReported after the manager accepted does not end the process; it is retried and the status is not lost", async (t) => {
  const { faulty, worker, sender, unhandled } = setup(t);
  faulty.failing.add('markReported');
  const task = makeTask({}, { desired_state: TaskState.RUNNING as Task['desired_state'] });
  await worker.assign(assignment(task));
  await waitFor('RUNNING reported', async () => sender.sent.some((u) => u.taskId === task.id && (u.status.state as number) === TaskState.RUNNING), 10_000);
  await waitFor('a failed markReported', async () => faulty.failures > 0, 10_000);
  t.deepEqual(unhandled, [], 'no unhandled rejection');
  t.true(faulty.real.unreported().length > 0, 'still unreported on disk: a restart now would send it again');

  faulty.failing.clear();
  await waitFor('the report marked in the store', async () => faulty.real.unreported().length === 0, 15_000);
  t.deepEqual(sender.unstored, []);
  t.deepEqual(unhandled, []);
});

test.serial('a new task whose record the disk refuses is not started until it is stored; then it runs and is reported', async (t) => {
  const { faulty, worker, sender, calls, unhandled, writes } = setup(t);
  faulty.failing.add('putTask');
  const task = makeTask({}, { desired_state: TaskState.RUNNING as Task['desired_state'] });
  await worker.assign(assignment(task));
  await waitFor('a retry that failed too', async () => faulty.failures >= 2, 10_000);
  t.is(writes.health().state, 'degraded');
  t.deepEqual(calls, [], 'nothing acted on a task the store does not hold');
  t.regex(worker.tasks().find((v) => v.id === task.id)?.message ?? '', /waiting for the task store/);
  t.deepEqual(sender.sent, []);

  faulty.failing.clear();
  await waitFor('RUNNING stored and reported', async () => sender.sent.some((u) => u.taskId === task.id && (u.status.state as number) === TaskState.RUNNING), 15_000);
  t.truthy(faulty.real.get(task.id));
  await waitFor('no longer degraded', async () => writes.health().state === 'ok', 15_000);
  t.is(writes.health().degradedPeriods, 1);
  t.deepEqual(sender.unstored, []);
  t.deepEqual(unhandled, []);
});

test.serial('a failed fdatasync reopens the store and re-syncs it before anything more is reported', async (t) => {
  const { faulty, worker, sender, unhandled, writes } = setup(t);
  faulty.failing.add('durable');
  const task = makeTask({}, { desired_state: TaskState.RUNNING as Task['desired_state'] });
  await worker.assign(assignment(task));
  await waitFor('a failed sync', async () => faulty.failures > 0, 10_000);
  t.is(writes.health().state, 'degraded');
  t.deepEqual(sender.sent, [], 'nothing reported without a sync');
  faulty.failing.clear();
  await waitFor('RUNNING reported after the reopen', async () => sender.sent.some((u) => u.taskId === task.id && (u.status.state as number) === TaskState.RUNNING), 15_000);
  t.true(faulty.opens >= 2, 'reopened');
  t.true(faulty.real.stats().compactions >= 1, 're-synced in a fresh snapshot');
  t.is(writes.health().state, 'ok');
  t.deepEqual(sender.unstored, []);
  t.deepEqual(unhandled, []);
});
