// Original file: agent/proto/types.proto

import type { PortConfig as _docker_swarmkit_v1_PortConfig, PortConfig__Output as _docker_swarmkit_v1_PortConfig__Output } from '../../../docker/swarmkit/v1/PortConfig';

export interface PortStatus {
  'ports'?: (_docker_swarmkit_v1_PortConfig)[];
}

export interface PortStatus__Output {
  'ports': (_docker_swarmkit_v1_PortConfig__Output)[];
}
