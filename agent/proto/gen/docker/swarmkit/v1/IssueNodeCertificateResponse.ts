// Original file: agent/proto/ca.proto

import type { _docker_swarmkit_v1_NodeSpec_Membership, _docker_swarmkit_v1_NodeSpec_Membership__Output } from '../../../docker/swarmkit/v1/NodeSpec';

export interface IssueNodeCertificateResponse {
  'node_id'?: (string);
  'node_membership'?: (_docker_swarmkit_v1_NodeSpec_Membership);
}

export interface IssueNodeCertificateResponse__Output {
  'node_id': (string);
  'node_membership': (_docker_swarmkit_v1_NodeSpec_Membership__Output);
}
