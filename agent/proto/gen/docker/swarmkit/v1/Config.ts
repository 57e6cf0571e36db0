// Original file: agent/proto/objects.proto

import type { Meta as _docker_swarmkit_v1_Meta, Meta__Output as _docker_swarmkit_v1_Meta__Output } from '../../../docker/swarmkit/v1/Meta';
import type { ConfigSpec as _docker_swarmkit_v1_ConfigSpec, ConfigSpec__Output as _docker_swarmkit_v1_ConfigSpec__Output } from '../../../docker/swarmkit/v1/ConfigSpec';

export interface Config {
  'id'?: (string);
  'meta'?: (_docker_swarmkit_v1_Meta | null);
  'spec'?: (_docker_swarmkit_v1_ConfigSpec | null);
}

export interface Config__Output {
  'id': (string);
  'meta': (_docker_swarmkit_v1_Meta__Output | null);
  'spec': (_docker_swarmkit_v1_ConfigSpec__Output | null);
}
