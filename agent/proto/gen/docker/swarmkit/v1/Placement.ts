// Original file: agent/proto/types.proto

import type { PlacementPreference as _docker_swarmkit_v1_PlacementPreference, PlacementPreference__Output as _docker_swarmkit_v1_PlacementPreference__Output } from '../../../docker/swarmkit/v1/PlacementPreference';
import type { Platform as _docker_swarmkit_v1_Platform, Platform__Output as _docker_swarmkit_v1_Platform__Output } from '../../../docker/swarmkit/v1/Platform';
import type { Long } from '@grpc/proto-loader';

export interface Placement {
  'constraints'?: (string)[];
  'preferences'?: (_docker_swarmkit_v1_PlacementPreference)[];
  'platforms'?: (_docker_swarmkit_v1_Platform)[];
  'max_replicas'?: (number | string | Long);
}

export interface Placement__Output {
  'constraints': (string)[];
  'preferences': (_docker_swarmkit_v1_PlacementPreference__Output)[];
  'platforms': (_docker_swarmkit_v1_Platform__Output)[];
  'max_replicas': (string);
}
