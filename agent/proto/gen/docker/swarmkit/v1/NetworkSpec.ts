// Original file: agent/proto/specs.proto

import type { Annotations as _docker_swarmkit_v1_Annotations, Annotations__Output as _docker_swarmkit_v1_Annotations__Output } from '../../../docker/swarmkit/v1/Annotations';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { IPAMOptions as _docker_swarmkit_v1_IPAMOptions, IPAMOptions__Output as _docker_swarmkit_v1_IPAMOptions__Output } from '../../../docker/swarmkit/v1/IPAMOptions';

export interface NetworkSpec {
  'annotations'?: (_docker_swarmkit_v1_Annotations | null);
  'driver_config'?: (_docker_swarmkit_v1_Driver | null);
  'ipv6_enabled'?: (boolean);
  'internal'?: (boolean);
  'ipam'?: (_docker_swarmkit_v1_IPAMOptions | null);
  'attachable'?: (boolean);
  'ingress'?: (boolean);
  'network'?: (string);
  'config_from'?: "network";
}

export interface NetworkSpec__Output {
  'annotations': (_docker_swarmkit_v1_Annotations__Output | null);
  'driver_config': (_docker_swarmkit_v1_Driver__Output | null);
  'ipv6_enabled': (boolean);
  'internal': (boolean);
  'ipam': (_docker_swarmkit_v1_IPAMOptions__Output | null);
  'attachable': (boolean);
  'ingress': (boolean);
  'network'?: (string);
  'config_from'?: "network";
}
