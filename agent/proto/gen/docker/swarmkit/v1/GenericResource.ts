// Original file: agent/proto/types.proto

import type { NamedGenericResource as _docker_swarmkit_v1_NamedGenericResource, NamedGenericResource__Output as _docker_swarmkit_v1_NamedGenericResource__Output } from '../../../docker/swarmkit/v1/NamedGenericResource';
import type { DiscreteGenericResource as _docker_swarmkit_v1_DiscreteGenericResource, DiscreteGenericResource__Output as _docker_swarmkit_v1_DiscreteGenericResource__Output } from '../../../docker/swarmkit/v1/DiscreteGenericResource';

export interface GenericResource {
  'named_resource_spec'?: (_docker_swarmkit_v1_NamedGenericResource | null);
  'discrete_resource_spec'?: (_docker_swarmkit_v1_DiscreteGenericResource | null);
  'resource'?: "named_resource_spec"|"discrete_resource_spec";
}

export interface GenericResource__Output {
  'named_resource_spec'?: (_docker_swarmkit_v1_NamedGenericResource__Output | null);
  'discrete_resource_spec'?: (_docker_swarmkit_v1_DiscreteGenericResource__Output | null);
  'resource'?: "named_resource_spec"|"discrete_resource_spec";
}
