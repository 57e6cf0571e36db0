// Original file: agent/proto/types.proto

import type { GenericResource as _docker_swarmkit_v1_GenericResource, GenericResource__Output as _docker_swarmkit_v1_GenericResource__Output } from '../../../docker/swarmkit/v1/GenericResource';
import type { Long } from '@grpc/proto-loader';

export interface Resources {
  'nano_cpus'?: (number | string | Long);
  'memory_bytes'?: (number | string | Long);
  'generic'?: (_docker_swarmkit_v1_GenericResource)[];
}

export interface Resources__Output {
  'nano_cpus': (string);
  'memory_bytes': (string);
  'generic': (_docker_swarmkit_v1_GenericResource__Output)[];
}
