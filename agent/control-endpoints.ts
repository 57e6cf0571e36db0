// The control socket's endpoints that take parameters (agentctl task, agentctl dns): the
// parameters checked here, each failure a coded error agentctl shows as it is.
import type { Agent } from './agent.js';
import type { TaskDetail } from './worker/worker.js';
import { ControlRequestError } from './errors.js';
import { PROBE_TYPES, type ProbeAnswer, type ProbeType } from '../dns/index.js';
import type { NetworkController } from '../netd/index.js';

export type TaskAnswer = TaskDetail & { sandbox: string | undefined };

function param(q: URLSearchParams, name: string): string {
  const v = q.get(name);
  if (!v) throw new ControlRequestError('E_BAD_REQUEST', `missing parameter ${name}`);
  return v;
}

function findTask(agent: Agent | undefined, id: string): TaskDetail {
  const t = agent?.task(id);
  if (!t) throw new ControlRequestError('E_NO_SUCH_TASK', `no task ${id} on this node (or the prefix matches several): agentctl tasks lists them`);
  return t;
}

export function taskEndpoint(q: URLSearchParams, agent: Agent | undefined, networking: NetworkController | undefined): TaskAnswer {
  const t = findTask(agent, param(q, 'id'));
  return { ...t, sandbox: networking?.sandboxOf(t.id) };
}

export async function dnsEndpoint(q: URLSearchParams, agent: Agent | undefined, networking: NetworkController | undefined): Promise<ProbeAnswer & { task: string; name: string; type: string; netnsPath: string }> {
  const name = param(q, 'name');
  const type = (q.get('type') ?? 'A').toUpperCase();
  if (!PROBE_TYPES.includes(type as ProbeType)) throw new ControlRequestError('E_BAD_REQUEST', `unknown record type ${type}: one of ${PROBE_TYPES.join(', ')}`);
  if (!networking) throw new ControlRequestError('E_DATA_PLANE_OFF', 'the data plane is off here (no embedded DNS): see agentctl status');
  const task = findTask(agent, param(q, 'task'));
  return { task: task.id, name, type, ...(await networking.resolveAs(task.id, name, type as ProbeType)) };
}
