// Original file: agent/proto/dispatcher.proto

import type { TaskStatus as _docker_swarmkit_v1_TaskStatus, TaskStatus__Output as _docker_swarmkit_v1_TaskStatus__Output } from '../../../docker/swarmkit/v1/TaskStatus';

export interface _docker_swarmkit_v1_UpdateTaskStatusRequest_TaskStatusUpdate {
  'task_id'?: (string);
  'status'?: (_docker_swarmkit_v1_TaskStatus | null);
}

export interface _docker_swarmkit_v1_UpdateTaskStatusRequest_TaskStatusUpdate__Output {
  'task_id': (string);
  'status': (_docker_swarmkit_v1_TaskStatus__Output | null);
}

export interface UpdateTaskStatusRequest {
  'session_id'?: (string);
  'updates'?: (_docker_swarmkit_v1_UpdateTaskStatusRequest_TaskStatusUpdate)[];
}

export interface UpdateTaskStatusRequest__Output {
  'session_id': (string);
  'updates': (_docker_swarmkit_v1_UpdateTaskStatusRequest_TaskStatusUpdate__Output)[];
}
