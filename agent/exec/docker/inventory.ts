// What berth has on the engine, found by its labels: for adoption after a restart and for
// cleaning up what belongs to no known task.
import type Docker from 'dockerode';
import { engineError, isStatus } from './engine.js';
import { LABEL_BERTH_NODE_ID, LABEL_BERTH_ROLE, LABEL_BERTH_SERVICE_ID, LABEL_BERTH_TASK_ID, LABEL_TASK_ID, ROLE_POOL, ROLE_SANDBOX, ROLE_TASK, taskIdOfSandboxName, type BerthRole } from './naming.js';
import type { TaskDirs } from './task-dir.js';

export interface BerthContainer {
  id: string;
  name: string;
  role: BerthRole;
  taskId: string;
  serviceId: string;
  nodeId: string;
  /** created, running, exited, ... */
  state: string;
}

/** Every container carrying berth's role label, on this engine. */
export async function listBerthContainers(docker: Docker): Promise<BerthContainer[]> {
  let list: Docker.ContainerInfo[];
  try {
    list = await docker.listContainers({ all: true, filters: { label: [LABEL_BERTH_ROLE] } });
  } catch (err) {
    throw engineError(err, 'listing berth containers');
  }
  return list.flatMap((c) => {
    const l = c.Labels ?? {};
    const name = (c.Names?.[0] ?? '').replace(/^\//, '');
    // A warm sandbox a task took carries the pool's labels and the task's sandbox name.
    const takenFromPool = l[LABEL_BERTH_ROLE] === ROLE_POOL ? taskIdOfSandboxName(name) : undefined;
    const role = takenFromPool !== undefined ? ROLE_SANDBOX : l[LABEL_BERTH_ROLE];
    if (role !== ROLE_TASK && role !== ROLE_SANDBOX) return [];
    return [
      {
        id: c.Id,
        name,
        role,
        // Containers made before berth labelled its own task id carry only Docker's.
        taskId: takenFromPool ?? l[LABEL_BERTH_TASK_ID] ?? l[LABEL_TASK_ID] ?? '',
        serviceId: l[LABEL_BERTH_SERVICE_ID] ?? '',
        nodeId: l[LABEL_BERTH_NODE_ID] ?? '',
        state: c.State,
      },
    ];
  });
}

export interface OrphanReport {
  containers: string[];
  taskDirs: string[];
}

/**
 * Removes berth containers whose task is not in `keep` (task containers before sandboxes),
 * then task directories made by `nodeId` whose task is not in `keep`. Directories of other
 * nodes sharing the host are left alone.
 */
export async function cleanupOrphans(docker: Docker, taskDirs: TaskDirs, keep: ReadonlySet<string>, nodeId: string): Promise<OrphanReport> {
  const report: OrphanReport = { containers: [], taskDirs: [] };
  // Only this node's: several berth nodes may share an engine (tests, or a re-joined node).
  const orphans = (await listBerthContainers(docker)).filter((c) => !keep.has(c.taskId) && (c.nodeId === nodeId || c.nodeId === ''));
  orphans.sort((a, b) => (a.role === b.role ? 0 : a.role === ROLE_TASK ? -1 : 1));
  for (const c of orphans) {
    try {
      await docker.getContainer(c.id).remove({ force: true, v: false });
      report.containers.push(c.name);
    } catch (err) {
      if (!isStatus(err, 404)) throw engineError(err, `removing orphaned container ${c.name}`);
    }
  }
  for (const d of await taskDirs.list()) {
    if (keep.has(d.taskId) || d.owner !== nodeId) continue;
    await taskDirs.remove(d.taskId);
    report.taskDirs.push(d.taskId);
  }
  return report;
}
