// Original file: agent/proto/dispatcher.proto

import type { AssignmentChange as _docker_swarmkit_v1_AssignmentChange, AssignmentChange__Output as _docker_swarmkit_v1_AssignmentChange__Output } from '../../../docker/swarmkit/v1/AssignmentChange';

// Original file: agent/proto/dispatcher.proto

export const _docker_swarmkit_v1_AssignmentsMessage_Type = {
  COMPLETE: 0,
  INCREMENTAL: 1,
} as const;

export type _docker_swarmkit_v1_AssignmentsMessage_Type =
  | 'COMPLETE'
  | 0
  | 'INCREMENTAL'
  | 1

export type _docker_swarmkit_v1_AssignmentsMessage_Type__Output = typeof _docker_swarmkit_v1_AssignmentsMessage_Type[keyof typeof _docker_swarmkit_v1_AssignmentsMessage_Type]

export interface AssignmentsMessage {
  'type'?: (_docker_swarmkit_v1_AssignmentsMessage_Type);
  'applies_to'?: (string);
  'results_in'?: (string);
  'changes'?: (_docker_swarmkit_v1_AssignmentChange)[];
}

export interface AssignmentsMessage__Output {
  'type': (_docker_swarmkit_v1_AssignmentsMessage_Type__Output);
  'applies_to': (string);
  'results_in': (string);
  'changes': (_docker_swarmkit_v1_AssignmentChange__Output)[];
}
