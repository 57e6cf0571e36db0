// Original file: agent/proto/specs.proto

import type { Annotations as _docker_swarmkit_v1_Annotations, Annotations__Output as _docker_swarmkit_v1_Annotations__Output } from '../../../docker/swarmkit/v1/Annotations';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';

export interface SecretSpec {
  'annotations'?: (_docker_swarmkit_v1_Annotations | null);
  'data'?: (Buffer | Uint8Array | string);
  'templating'?: (_docker_swarmkit_v1_Driver | null);
  'driver'?: (_docker_swarmkit_v1_Driver | null);
}

export interface SecretSpec__Output {
  'annotations': (_docker_swarmkit_v1_Annotations__Output | null);
  'data': (Buffer);
  'templating': (_docker_swarmkit_v1_Driver__Output | null);
  'driver': (_docker_swarmkit_v1_Driver__Output | null);
}
