// Original file: agent/proto/dispatcher.proto

import type { Task as _docker_swarmkit_v1_Task, Task__Output as _docker_swarmkit_v1_Task__Output } from '../../../docker/swarmkit/v1/Task';

export interface TasksMessage {
  'tasks'?: (_docker_swarmkit_v1_Task)[];
}

export interface TasksMessage__Output {
  'tasks': (_docker_swarmkit_v1_Task__Output)[];
}
