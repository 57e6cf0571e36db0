// Original file: agent/proto/specs.proto

import type { PortConfig as _docker_swarmkit_v1_PortConfig, PortConfig__Output as _docker_swarmkit_v1_PortConfig__Output } from '../../../docker/swarmkit/v1/PortConfig';

// Original file: agent/proto/specs.proto

export const _docker_swarmkit_v1_EndpointSpec_ResolutionMode = {
  VIP: 0,
  DNSRR: 1,
} as const;

export type _docker_swarmkit_v1_EndpointSpec_ResolutionMode =
  | 'VIP'
  | 0
  | 'DNSRR'
  | 1

export type _docker_swarmkit_v1_EndpointSpec_ResolutionMode__Output = typeof _docker_swarmkit_v1_EndpointSpec_ResolutionMode[keyof typeof _docker_swarmkit_v1_EndpointSpec_ResolutionMode]

export interface EndpointSpec {
  'mode'?: (_docker_swarmkit_v1_EndpointSpec_ResolutionMode);
  'ports'?: (_docker_swarmkit_v1_PortConfig)[];
}

export interface EndpointSpec__Output {
  'mode': (_docker_swarmkit_v1_EndpointSpec_ResolutionMode__Output);
  'ports': (_docker_swarmkit_v1_PortConfig__Output)[];
}
