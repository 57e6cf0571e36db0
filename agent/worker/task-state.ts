// SwarmKit's task state numbers (from the generated proto code) and the per-task state machine
// as a pure function.
// States only ever increase (compare numerically); the worker drives a task one step at a
// time: either a bare transition, or a controller call whose success moves the task on.
import { BerthError } from '../../base/index.js';
import { TaskState, type TaskStateNumber } from '../proto/enums.js';

export { TaskState };

type TaskStateName = keyof typeof TaskState;

const NAMES = new Map<number, TaskStateName>(Object.entries(TaskState).map(([k, v]) => [v, k as TaskStateName]));

export function stateName(n: number): string {
  return NAMES.get(n) ?? `UNKNOWN(${n})`;
}

export function isKnownState(n: number): n is TaskStateNumber {
  return NAMES.has(n);
}

/** COMPLETE and beyond: the task's container is gone or never ran; nothing more to drive. */
export function isTerminal(state: number): boolean {
  return state >= TaskState.COMPLETE;
}

export type ControllerOp = 'prepare' | 'start' | 'wait' | 'shutdown';

export type Step =
  | { kind: 'noop' }
  | { kind: 'transition'; to: TaskStateNumber; message: string }
  | { kind: 'call'; op: ControllerOp; to: TaskStateNumber; message: string };

/**
 * Decides the next step for a task in `state` whose manager-desired state is `desired`.
 * Mirrors SwarmKit's exec.Do: PREPARING, STARTING and RUNNING proceed regardless of the
 * desired state (they are in-flight work); the other states wait until desired moves past
 * them. A desired state of SHUTDOWN or beyond stops a task that has not finished.
 */
export function nextStep(state: number, desired: number): Step {
  if (desired >= TaskState.SHUTDOWN) {
    if (state >= TaskState.COMPLETE) return { kind: 'noop' };
    // Nothing was prepared before PREPARING: just record the shutdown. From PREPARING on, the
    // task may own a sandbox whose names and endpoints are published (prepare attaches it), so
    // the controller shuts it down even though no container was started (SwarmKit's exec.Do
    // calls Shutdown for any state below COMPLETED too).
    if (state < TaskState.PREPARING) return { kind: 'transition', to: TaskState.SHUTDOWN, message: 'shutdown' };
    return { kind: 'call', op: 'shutdown', to: TaskState.SHUTDOWN, message: 'shutdown' };
  }
  switch (state) {
    case TaskState.PREPARING:
      return { kind: 'call', op: 'prepare', to: TaskState.READY, message: 'prepared' };
    case TaskState.STARTING:
      return { kind: 'call', op: 'start', to: TaskState.RUNNING, message: 'started' };
    case TaskState.RUNNING:
      return { kind: 'call', op: 'wait', to: TaskState.COMPLETE, message: 'finished' };
  }
  if (state >= desired) return { kind: 'noop' };
  switch (state) {
    case TaskState.NEW:
    case TaskState.PENDING:
    case TaskState.ASSIGNED:
      return { kind: 'transition', to: TaskState.ACCEPTED, message: 'accepted' };
    case TaskState.ACCEPTED:
      return { kind: 'transition', to: TaskState.PREPARING, message: 'preparing' };
    case TaskState.READY:
      return { kind: 'transition', to: TaskState.STARTING, message: 'starting' };
    default:
      return { kind: 'noop' };
  }
}

/** The state a non-temporary controller failure moves a task to: before it started, the
 *  node rejects the task (the manager reschedules it); after, the task failed. */
export function failureState(state: number): TaskStateNumber {
  return state < TaskState.STARTING ? TaskState.REJECTED : TaskState.FAILED;
}

export class InvalidTransitionError extends BerthError {
  declare readonly code: 'E_STATE_BACKWARDS';
  constructor(from: number, to: number) {
    super('E_STATE_BACKWARDS', `task state may not move backwards: ${stateName(from)} → ${stateName(to)}`);
  }
}

/** Guards every status write: a backwards move is a programming error, never a state. */
export function checkForward(from: number, to: number): void {
  if (to < from) throw new InvalidTransitionError(from, to);
}
