// Original file: agent/proto/types.proto

import type { JoinTokens as _docker_swarmkit_v1_JoinTokens, JoinTokens__Output as _docker_swarmkit_v1_JoinTokens__Output } from '../../../docker/swarmkit/v1/JoinTokens';
import type { RootRotation as _docker_swarmkit_v1_RootRotation, RootRotation__Output as _docker_swarmkit_v1_RootRotation__Output } from '../../../docker/swarmkit/v1/RootRotation';
import type { Long } from '@grpc/proto-loader';

export interface RootCA {
  'ca_key'?: (Buffer | Uint8Array | string);
  'ca_cert'?: (Buffer | Uint8Array | string);
  'ca_cert_hash'?: (string);
  'join_tokens'?: (_docker_swarmkit_v1_JoinTokens | null);
  'root_rotation'?: (_docker_swarmkit_v1_RootRotation | null);
  'last_forced_rotation'?: (number | string | Long);
}

export interface RootCA__Output {
  'ca_key': (Buffer);
  'ca_cert': (Buffer);
  'ca_cert_hash': (string);
  'join_tokens': (_docker_swarmkit_v1_JoinTokens__Output | null);
  'root_rotation': (_docker_swarmkit_v1_RootRotation__Output | null);
  'last_forced_rotation': (string);
}
