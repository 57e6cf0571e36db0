// Original file: agent/proto/objects.proto

import type { Meta as _docker_swarmkit_v1_Meta, Meta__Output as _docker_swarmkit_v1_Meta__Output } from '../../../docker/swarmkit/v1/Meta';
import type { SecretSpec as _docker_swarmkit_v1_SecretSpec, SecretSpec__Output as _docker_swarmkit_v1_SecretSpec__Output } from '../../../docker/swarmkit/v1/SecretSpec';

export interface Secret {
  'id'?: (string);
  'meta'?: (_docker_swarmkit_v1_Meta | null);
  'spec'?: (_docker_swarmkit_v1_SecretSpec | null);
  'internal'?: (boolean);
}

export interface Secret__Output {
  'id': (string);
  'meta': (_docker_swarmkit_v1_Meta__Output | null);
  'spec': (_docker_swarmkit_v1_SecretSpec__Output | null);
  'internal': (boolean);
}
