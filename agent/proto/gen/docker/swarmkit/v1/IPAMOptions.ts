// Original file: agent/proto/types.proto

import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { IPAMConfig as _docker_swarmkit_v1_IPAMConfig, IPAMConfig__Output as _docker_swarmkit_v1_IPAMConfig__Output } from '../../../docker/swarmkit/v1/IPAMConfig';

export interface IPAMOptions {
  'driver'?: (_docker_swarmkit_v1_Driver | null);
  'configs'?: (_docker_swarmkit_v1_IPAMConfig)[];
}

export interface IPAMOptions__Output {
  'driver': (_docker_swarmkit_v1_Driver__Output | null);
  'configs': (_docker_swarmkit_v1_IPAMConfig__Output)[];
}
