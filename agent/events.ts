// What the agent's parts publish for observers (agentd's metrics): figures that exist only as
// events, not in any status a scrape could read.
import { EventChannel } from '../base/index.js';

/** A heartbeat the manager answered, and its round trip. */
export interface HeartbeatEvent {
  manager: string;
  rttMs: number;
}

/** A task assigned while this agentd ran reached RUNNING: the time since its assignment arrived. */
export interface TaskRunningEvent {
  taskId: string;
  ms: number;
}

export const heartbeatEvents = new EventChannel<HeartbeatEvent>('berth:session:heartbeat');
export const taskRunningEvents = new EventChannel<TaskRunningEvent>('berth:worker:task-running');
