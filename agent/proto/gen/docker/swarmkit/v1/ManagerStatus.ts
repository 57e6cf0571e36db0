// Original file: agent/proto/types.proto

import type { _docker_swarmkit_v1_RaftMemberStatus_Reachability, _docker_swarmkit_v1_RaftMemberStatus_Reachability__Output } from '../../../docker/swarmkit/v1/RaftMemberStatus';
import type { Long } from '@grpc/proto-loader';

export interface ManagerStatus {
  'raft_id'?: (number | string | Long);
  'addr'?: (string);
  'leader'?: (boolean);
  'reachability'?: (_docker_swarmkit_v1_RaftMemberStatus_Reachability);
}

export interface ManagerStatus__Output {
  'raft_id': (string);
  'addr': (string);
  'leader': (boolean);
  'reachability': (_docker_swarmkit_v1_RaftMemberStatus_Reachability__Output);
}
