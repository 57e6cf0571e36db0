// Original file: agent/proto/types.proto

import type { NodeRole as _docker_swarmkit_v1_NodeRole, NodeRole__Output as _docker_swarmkit_v1_NodeRole__Output } from '../../../docker/swarmkit/v1/NodeRole';
import type { IssuanceStatus as _docker_swarmkit_v1_IssuanceStatus, IssuanceStatus__Output as _docker_swarmkit_v1_IssuanceStatus__Output } from '../../../docker/swarmkit/v1/IssuanceStatus';

export interface Certificate {
  'role'?: (_docker_swarmkit_v1_NodeRole);
  'csr'?: (Buffer | Uint8Array | string);
  'status'?: (_docker_swarmkit_v1_IssuanceStatus | null);
  'certificate'?: (Buffer | Uint8Array | string);
  'cn'?: (string);
}

export interface Certificate__Output {
  'role': (_docker_swarmkit_v1_NodeRole__Output);
  'csr': (Buffer);
  'status': (_docker_swarmkit_v1_IssuanceStatus__Output | null);
  'certificate': (Buffer);
  'cn': (string);
}
