// Original file: agent/proto/specs.proto

import type { ResourceType as _docker_swarmkit_v1_ResourceType, ResourceType__Output as _docker_swarmkit_v1_ResourceType__Output } from '../../../docker/swarmkit/v1/ResourceType';

export interface ResourceReference {
  'resource_id'?: (string);
  'resource_type'?: (_docker_swarmkit_v1_ResourceType);
}

export interface ResourceReference__Output {
  'resource_id': (string);
  'resource_type': (_docker_swarmkit_v1_ResourceType__Output);
}
