// Container names and labels as Docker's own worker sets them, so operators' tooling
// (docker ps filters, service logs, monitoring) sees berth tasks the same way.
import type { Task } from '../../proto/api.js';

export const LABEL_SERVICE_ID = 'com.docker.swarm.service.id';
export const LABEL_SERVICE_NAME = 'com.docker.swarm.service.name';
export const LABEL_TASK_ID = 'com.docker.swarm.task.id';
export const LABEL_TASK_NAME = 'com.docker.swarm.task.name';
export const LABEL_NODE_ID = 'com.docker.swarm.node.id';
export const LABEL_STACK_NAMESPACE = 'com.docker.stack.namespace';
/** Marks containers berth manages (and which part of a task they are). */
export const LABEL_BERTH_ROLE = 'io.berth.role';

export function serviceName(task: Task): string {
  return task.service_annotations?.name || task.service_id;
}

/** `<service>.<slot>.<taskid>`, or `<service>.<nodeid>.<taskid>` for global services (slot 0). */
export function taskName(task: Task): string {
  const slot = String(task.slot);
  const middle = slot !== '0' && slot !== '' ? slot : task.node_id;
  return `${serviceName(task)}.${middle}.${task.id}`;
}

export function taskLabels(task: Task): Record<string, string> {
  const labels: Record<string, string> = { ...(task.spec?.container?.labels ?? {}) };
  const stack = task.service_annotations?.labels?.[LABEL_STACK_NAMESPACE];
  if (stack) labels[LABEL_STACK_NAMESPACE] = stack;
  labels[LABEL_SERVICE_ID] = task.service_id;
  labels[LABEL_SERVICE_NAME] = serviceName(task);
  labels[LABEL_TASK_ID] = task.id;
  labels[LABEL_TASK_NAME] = taskName(task);
  labels[LABEL_NODE_ID] = task.node_id;
  return labels;
}
