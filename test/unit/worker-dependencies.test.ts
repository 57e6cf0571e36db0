// Secrets and configs follow the assignment stream as SwarmKit's worker keeps them
// (agent/worker.go reconcileSecrets/reconcileConfigs): a COMPLETE set replaces the whole
// store, an INCREMENTAL one adds and removes only what it names.
import test from 'ava';
import type { AssignmentsMessage, Config, Secret } from '../../agent/proto/api.js';
import type { Executor } from '../../agent/exec/executor.js';
import { InMemoryDependencies } from '../../agent/exec/dependencies.js';
import { AssignmentAction, AssignmentsType } from '../../agent/proto/enums.js';
import { Worker, type WorkerStore } from '../../agent/worker/worker.js';
import { config, secret } from './exec-fixture.js';

type Change = { secret: Secret } | { config: Config };

function message(type: AssignmentsType, version: string, prev: string, changes: Array<[Change, AssignmentAction]>): AssignmentsMessage {
  return { type, applies_to: prev, results_in: version, changes: changes.map(([assignment, action]) => ({ assignment, action })) } as unknown as AssignmentsMessage;
}

function setup() {
  const dependencies = new InMemoryDependencies();
  // No task is assigned here: the executor is never asked for a controller.
  const executor = { dependencies } as unknown as Executor;
  const store: WorkerStore = { putTask: () => true, putStatus: () => undefined, remove: () => undefined, list: () => [] };
  const worker = new Worker({ store, executor, onStatus: () => undefined, log: () => undefined });
  return { dependencies, worker };
}

const UPDATE = AssignmentAction.UPDATE;
const REMOVE = AssignmentAction.REMOVE;

test('a secret and a config missing from the next COMPLETE set are dropped', async (t) => {
  const { dependencies, worker } = setup();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', [
    [{ secret: secret('s1', 'one', 'v1') }, UPDATE],
    [{ secret: secret('s2', 'two', 'v2') }, UPDATE],
    [{ config: config('c1', 'one', 'c1') }, UPDATE],
    [{ config: config('c2', 'two', 'c2') }, UPDATE],
  ]));
  t.truthy(dependencies.secret('s1'));
  t.truthy(dependencies.config('c1'));
  await worker.assign(message(AssignmentsType.COMPLETE, 'v2', '', [
    [{ secret: secret('s2', 'two', 'v2') }, UPDATE],
    [{ config: config('c2', 'two', 'c2') }, UPDATE],
  ]));
  t.is(dependencies.secret('s1'), undefined);
  t.is(dependencies.config('c1'), undefined);
  t.truthy(dependencies.secret('s2'));
  t.truthy(dependencies.config('c2'));
});

test('an empty COMPLETE set empties the store', async (t) => {
  const { dependencies, worker } = setup();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', [[{ secret: secret('s1', 'one', 'v1') }, UPDATE], [{ config: config('c1', 'one', 'c1') }, UPDATE]]));
  worker.resetStream();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', []));
  t.is(dependencies.secret('s1'), undefined);
  t.is(dependencies.config('c1'), undefined);
});

test('a COMPLETE set replaces a changed value', async (t) => {
  const { dependencies, worker } = setup();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', [[{ secret: secret('s1', 'one', 'old') }, UPDATE]]));
  await worker.assign(message(AssignmentsType.COMPLETE, 'v2', '', [[{ secret: secret('s1', 'one', 'new') }, UPDATE]]));
  t.is(Buffer.from(dependencies.secret('s1')!.spec!.data).toString(), 'new');
});

test('an INCREMENTAL set adds and removes only what it names', async (t) => {
  const { dependencies, worker } = setup();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', [[{ secret: secret('s1', 'one', 'v1') }, UPDATE], [{ config: config('c1', 'one', 'c1') }, UPDATE]]));
  await worker.assign(message(AssignmentsType.INCREMENTAL, 'v2', 'v1', [[{ secret: secret('s2', 'two', 'v2') }, UPDATE], [{ config: config('c2', 'two', 'c2') }, UPDATE]]));
  t.truthy(dependencies.secret('s1'));
  t.truthy(dependencies.secret('s2'));
  t.truthy(dependencies.config('c1'));
  t.truthy(dependencies.config('c2'));
  await worker.assign(message(AssignmentsType.INCREMENTAL, 'v3', 'v2', [[{ secret: secret('s1', 'one', '') }, REMOVE], [{ config: config('c2', 'two', '') }, REMOVE]]));
  t.is(dependencies.secret('s1'), undefined);
  t.truthy(dependencies.secret('s2'));
  t.truthy(dependencies.config('c1'));
  t.is(dependencies.config('c2'), undefined);
});

test('a new session\'s COMPLETE set drops what earlier INCREMENTAL sets added', async (t) => {
  const { dependencies, worker } = setup();
  await worker.assign(message(AssignmentsType.COMPLETE, 'v1', '', [[{ secret: secret('s1', 'one', 'v1') }, UPDATE]]));
  await worker.assign(message(AssignmentsType.INCREMENTAL, 'v2', 'v1', [[{ secret: secret('s2', 'two', 'v2') }, UPDATE], [{ config: config('c2', 'two', 'c2') }, UPDATE]]));
  worker.resetStream();
  await worker.assign(message(AssignmentsType.COMPLETE, 'w1', '', [[{ secret: secret('s1', 'one', 'v1') }, UPDATE]]));
  t.truthy(dependencies.secret('s1'));
  t.is(dependencies.secret('s2'), undefined);
  t.is(dependencies.config('c2'), undefined);
});
