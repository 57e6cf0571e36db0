// Original file: agent/proto/types.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';
import type { Long } from '@grpc/proto-loader';

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_RestartPolicy_RestartCondition = {
  NONE: 0,
  ON_FAILURE: 1,
  ANY: 2,
} as const;

export type _docker_swarmkit_v1_RestartPolicy_RestartCondition =
  | 'NONE'
  | 0
  | 'ON_FAILURE'
  | 1
  | 'ANY'
  | 2

export type _docker_swarmkit_v1_RestartPolicy_RestartCondition__Output = typeof _docker_swarmkit_v1_RestartPolicy_RestartCondition[keyof typeof _docker_swarmkit_v1_RestartPolicy_RestartCondition]

export interface RestartPolicy {
  'condition'?: (_docker_swarmkit_v1_RestartPolicy_RestartCondition);
  'delay'?: (_google_protobuf_Duration | null);
  'max_attempts'?: (number | string | Long);
  'window'?: (_google_protobuf_Duration | null);
}

export interface RestartPolicy__Output {
  'condition': (_docker_swarmkit_v1_RestartPolicy_RestartCondition__Output);
  'delay': (_google_protobuf_Duration__Output | null);
  'max_attempts': (string);
  'window': (_google_protobuf_Duration__Output | null);
}
