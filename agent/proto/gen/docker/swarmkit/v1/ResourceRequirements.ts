// Original file: agent/proto/types.proto

import type { Resources as _docker_swarmkit_v1_Resources, Resources__Output as _docker_swarmkit_v1_Resources__Output } from '../../../docker/swarmkit/v1/Resources';
import type { Int64Value as _google_protobuf_Int64Value, Int64Value__Output as _google_protobuf_Int64Value__Output } from '../../../google/protobuf/Int64Value';

export interface ResourceRequirements {
  'limits'?: (_docker_swarmkit_v1_Resources | null);
  'reservations'?: (_docker_swarmkit_v1_Resources | null);
  'swap_bytes'?: (_google_protobuf_Int64Value | null);
  'memory_swappiness'?: (_google_protobuf_Int64Value | null);
}

export interface ResourceRequirements__Output {
  'limits': (_docker_swarmkit_v1_Resources__Output | null);
  'reservations': (_docker_swarmkit_v1_Resources__Output | null);
  'swap_bytes': (_google_protobuf_Int64Value__Output | null);
  'memory_swappiness': (_google_protobuf_Int64Value__Output | null);
}
