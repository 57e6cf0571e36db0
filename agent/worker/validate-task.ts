// Structural checks on an assigned task before anything acts on it. A task that fails here
// is REJECTED with the message; the worker carries on with the others.
import type { Task } from '../proto/api.js';
import { isKnownState } from './task-state.js';

const TASK_ID_RE = /^[a-z0-9]{1,64}$/;

const MAX_REPORTABLE_ID = 256;

/** An id we can store and report a status under (a malformed one is then REJECTED by it);
 *  without one, the task can only be skipped. */
export function isUsableTaskId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_REPORTABLE_ID;
}

/** Returns a message naming the first problem, or undefined when the task is usable. */
export function taskProblem(task: Task): string | undefined {
  if (!task.id || !TASK_ID_RE.test(task.id)) return `task id ${JSON.stringify(task.id)} is not a valid id`;
  if (!isKnownState(task.desired_state as number)) return `task ${task.id}: desired_state ${String(task.desired_state)} is not a known TaskState`;
  if (task.status && !isKnownState(task.status.state as number)) return `task ${task.id}: status.state ${String(task.status.state)} is not a known TaskState`;
  if (!task.spec) return `task ${task.id}: no spec`;
  const runtime = task.spec.runtime;
  if (runtime !== 'container' && runtime !== 'attachment' && runtime !== 'generic') return `task ${task.id}: spec has no runtime (container, attachment or generic)`;
  if (runtime === 'container') {
    const c = task.spec.container;
    if (!c) return `task ${task.id}: spec.container missing`;
    if (!c.image || c.image.trim() === '') return `task ${task.id}: spec.container.image is empty`;
  }
  if (runtime === 'generic') return `task ${task.id}: generic runtimes (plugins) are not supported by this node`;
  return undefined;
}
