// Original file: agent/proto/types.proto

import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { VolumeAccessMode as _docker_swarmkit_v1_VolumeAccessMode, VolumeAccessMode__Output as _docker_swarmkit_v1_VolumeAccessMode__Output } from '../../../docker/swarmkit/v1/VolumeAccessMode';
import type { VolumeSecret as _docker_swarmkit_v1_VolumeSecret, VolumeSecret__Output as _docker_swarmkit_v1_VolumeSecret__Output } from '../../../docker/swarmkit/v1/VolumeSecret';

export interface VolumeAssignment {
  'id'?: (string);
  'volume_id'?: (string);
  'driver'?: (_docker_swarmkit_v1_Driver | null);
  'volume_context'?: ({[key: string]: string});
  'publish_context'?: ({[key: string]: string});
  'access_mode'?: (_docker_swarmkit_v1_VolumeAccessMode | null);
  'secrets'?: (_docker_swarmkit_v1_VolumeSecret)[];
}

export interface VolumeAssignment__Output {
  'id': (string);
  'volume_id': (string);
  'driver': (_docker_swarmkit_v1_Driver__Output | null);
  'volume_context': ({[key: string]: string});
  'publish_context': ({[key: string]: string});
  'access_mode': (_docker_swarmkit_v1_VolumeAccessMode__Output | null);
  'secrets': (_docker_swarmkit_v1_VolumeSecret__Output)[];
}
