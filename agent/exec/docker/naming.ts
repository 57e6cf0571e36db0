// Container names and labels as Docker's own worker sets them, so operators' tooling
// (docker ps filters, service logs, monitoring) sees berth tasks the same way, plus berth's
// own labels, which let a restarted agent find everything it created for a task.
import type { Task } from '../../proto/api.js';

const LABEL_PREFIX_SWARM = 'com.docker.swarm';
const LABEL_TASK = `${LABEL_PREFIX_SWARM}.task`;
export const LABEL_SERVICE_ID = `${LABEL_PREFIX_SWARM}.service.id`;
const LABEL_SERVICE_NAME = `${LABEL_PREFIX_SWARM}.service.name`;
export const LABEL_TASK_ID = `${LABEL_PREFIX_SWARM}.task.id`;
const LABEL_TASK_NAME = `${LABEL_PREFIX_SWARM}.task.name`;
export const LABEL_NODE_ID = `${LABEL_PREFIX_SWARM}.node.id`;
const LABEL_STACK_NAMESPACE = 'com.docker.stack.namespace';

/** Marks containers berth manages, and which part of a task they are (ROLE_TASK or ROLE_SANDBOX). */
export const LABEL_BERTH_ROLE = 'io.berth.role';
export const LABEL_BERTH_TASK_ID = 'io.berth.task.id';
export const LABEL_BERTH_SERVICE_ID = 'io.berth.service.id';
export const LABEL_BERTH_NODE_ID = 'io.berth.node.id';
export const ROLE_TASK = 'task';
export const ROLE_SANDBOX = 'sandbox';
export type BerthRole = typeof ROLE_TASK | typeof ROLE_SANDBOX;
/** A warm sandbox no task has taken yet (see sandbox-pool.ts). A task takes one by renaming
 *  it to its sandboxName(); its labels stay as the pool made them. */
export const ROLE_POOL = 'pool';
const POOL_NAME_PREFIX = 'berth-pool.';
const SANDBOX_NAME_PREFIX = 'berth-sandbox.';

export function serviceName(task: Task): string {
  return task.service_annotations?.name || task.service_id;
}

/** The slot as Docker prints it: the slot number, or the node id for global services (slot 0). */
export function taskSlot(task: Task): string {
  const slot = String(task.slot);
  return slot !== '0' && slot !== '' ? slot : task.node_id;
}

/** The orchestrator's name when it set one, else `<service>.<slot>.<taskid>` (global: `<service>.<nodeid>.<taskid>`). */
export function taskName(task: Task): string {
  if (task.annotations?.name) return task.annotations.name;
  return `${serviceName(task)}.${taskSlot(task)}.${task.id}`;
}

/** The pause container that owns the task's network namespace. */
export function sandboxName(task: Pick<Task, 'id'>): string {
  return `${SANDBOX_NAME_PREFIX}${task.id}`;
}

/** The task id in a sandbox's name, or undefined for any other name. */
export function taskIdOfSandboxName(name: string): string | undefined {
  return name.startsWith(SANDBOX_NAME_PREFIX) && name.length > SANDBOX_NAME_PREFIX.length ? name.slice(SANDBOX_NAME_PREFIX.length) : undefined;
}

/** A warm sandbox's name: unique per node and made by this node's pool. */
export function poolSandboxName(nodeId: string, suffix: string): string {
  return `${POOL_NAME_PREFIX}${nodeId}.${suffix}`;
}

export function poolSandboxLabels(nodeId: string): Record<string, string> {
  return { [LABEL_BERTH_ROLE]: ROLE_POOL, [LABEL_BERTH_NODE_ID]: nodeId };
}

function berthLabels(task: Task, role: BerthRole): Record<string, string> {
  return {
    [LABEL_BERTH_ROLE]: role,
    [LABEL_BERTH_TASK_ID]: task.id,
    [LABEL_BERTH_SERVICE_ID]: task.service_id,
    [LABEL_BERTH_NODE_ID]: task.node_id,
  };
}

/** Spec labels, then the task's annotation labels, then the system labels (which win), as Docker does. */
export function taskLabels(task: Task): Record<string, string> {
  const labels: Record<string, string> = { ...(task.spec?.container?.labels ?? {}), ...(task.annotations?.labels ?? {}) };
  const stack = task.service_annotations?.labels?.[LABEL_STACK_NAMESPACE];
  if (stack && labels[LABEL_STACK_NAMESPACE] === undefined) labels[LABEL_STACK_NAMESPACE] = stack;
  labels[LABEL_TASK] = '';
  labels[LABEL_TASK_ID] = task.id;
  labels[LABEL_TASK_NAME] = taskName(task);
  labels[LABEL_NODE_ID] = task.node_id;
  labels[LABEL_SERVICE_ID] = task.service_id;
  labels[LABEL_SERVICE_NAME] = serviceName(task);
  return { ...labels, ...berthLabels(task, ROLE_TASK) };
}

/** The sandbox carries berth's labels only: Swarm tooling that counts a service's containers
 *  by `com.docker.swarm.*` labels must not count it. */
export function sandboxLabels(task: Task): Record<string, string> {
  return berthLabels(task, ROLE_SANDBOX);
}
