import test from 'ava';
import { TaskState, checkForward, failureState, isTerminal, nextStep, stateName, InvalidTransitionError } from '../../agent/worker/task-state.js';
import { TaskState as GeneratedTaskState } from '../../agent/proto/gen/docker/swarmkit/v1/TaskState.js';

const S = TaskState;

test('state numbers are the generated proto definition itself', (t) => {
  t.is(S, GeneratedTaskState);
});

test('a new task walks ASSIGNED → ACCEPTED → PREPARING → (prepare) READY → STARTING → (start) RUNNING → (wait) COMPLETE', (t) => {
  const desired = S.RUNNING;
  const path: string[] = [];
  let state: number = S.ASSIGNED;
  for (let i = 0; i < 10; i++) {
    const step = nextStep(state, desired);
    if (step.kind === 'noop') break;
    path.push(step.kind === 'call' ? `${step.op}→${stateName(step.to)}` : `→${stateName(step.to)}`);
    state = step.to;
  }
  t.deepEqual(path, ['→ACCEPTED', '→PREPARING', 'prepare→READY', '→STARTING', 'start→RUNNING', 'wait→COMPLETE']);
});

test('paused states wait for the desired state; in-flight states proceed regardless', (t) => {
  t.deepEqual(nextStep(S.READY, S.READY), { kind: 'noop' });
  t.deepEqual(nextStep(S.ACCEPTED, S.ACCEPTED), { kind: 'noop' });
  t.is(nextStep(S.PREPARING, S.READY).kind, 'call');
  t.is(nextStep(S.STARTING, S.READY).kind, 'call');
  t.deepEqual(nextStep(S.READY, S.RUNNING), { kind: 'transition', to: S.STARTING, message: 'starting' });
});

test('shutdown: before PREPARING it is only recorded; from PREPARING on (a sandbox may be attached and published) the controller shuts the task down', (t) => {
  for (const st of [S.NEW, S.ASSIGNED, S.ACCEPTED]) {
    t.deepEqual(nextStep(st, S.SHUTDOWN), { kind: 'transition', to: S.SHUTDOWN, message: 'shutdown' }, stateName(st));
  }
  for (const st of [S.PREPARING, S.READY, S.STARTING, S.RUNNING]) {
    t.deepEqual(nextStep(st, S.SHUTDOWN), { kind: 'call', op: 'shutdown', to: S.SHUTDOWN, message: 'shutdown' }, stateName(st));
    t.deepEqual(nextStep(st, S.REMOVE), { kind: 'call', op: 'shutdown', to: S.SHUTDOWN, message: 'shutdown' }, stateName(st));
  }
  for (const st of [S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED]) t.deepEqual(nextStep(st, S.REMOVE), { kind: 'noop' });
});

test('every step only moves forward, for every pair of states', (t) => {
  const all = Object.values(S);
  for (const st of all) {
    for (const desired of all) {
      const step = nextStep(st, desired);
      if (step.kind !== 'noop') t.true(step.to > st, `${stateName(st)} desired ${stateName(desired)} → ${stateName(step.to)}`);
    }
  }
});

test('failures before STARTING reject the task; later ones fail it', (t) => {
  t.is(failureState(S.PREPARING), S.REJECTED);
  t.is(failureState(S.READY), S.REJECTED);
  t.is(failureState(S.STARTING), S.FAILED);
  t.is(failureState(S.RUNNING), S.FAILED);
  t.true(isTerminal(S.COMPLETE));
  t.false(isTerminal(S.RUNNING));
  t.throws(() => checkForward(S.RUNNING, S.READY), { instanceOf: InvalidTransitionError, message: /RUNNING → READY/ });
  t.notThrows(() => checkForward(S.RUNNING, S.RUNNING));
});
