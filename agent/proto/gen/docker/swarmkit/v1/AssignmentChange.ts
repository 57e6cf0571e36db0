// Original file: agent/proto/dispatcher.proto

import type { Assignment as _docker_swarmkit_v1_Assignment, Assignment__Output as _docker_swarmkit_v1_Assignment__Output } from '../../../docker/swarmkit/v1/Assignment';

// Original file: agent/proto/dispatcher.proto

export const _docker_swarmkit_v1_AssignmentChange_AssignmentAction = {
  UPDATE: 0,
  REMOVE: 1,
} as const;

export type _docker_swarmkit_v1_AssignmentChange_AssignmentAction =
  | 'UPDATE'
  | 0
  | 'REMOVE'
  | 1

export type _docker_swarmkit_v1_AssignmentChange_AssignmentAction__Output = typeof _docker_swarmkit_v1_AssignmentChange_AssignmentAction[keyof typeof _docker_swarmkit_v1_AssignmentChange_AssignmentAction]

export interface AssignmentChange {
  'assignment'?: (_docker_swarmkit_v1_Assignment | null);
  'action'?: (_docker_swarmkit_v1_AssignmentChange_AssignmentAction);
}

export interface AssignmentChange__Output {
  'assignment': (_docker_swarmkit_v1_Assignment__Output | null);
  'action': (_docker_swarmkit_v1_AssignmentChange_AssignmentAction__Output);
}
