// Original file: agent/proto/objects.proto

import type { Meta as _docker_swarmkit_v1_Meta, Meta__Output as _docker_swarmkit_v1_Meta__Output } from '../../../docker/swarmkit/v1/Meta';
import type { NetworkSpec as _docker_swarmkit_v1_NetworkSpec, NetworkSpec__Output as _docker_swarmkit_v1_NetworkSpec__Output } from '../../../docker/swarmkit/v1/NetworkSpec';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { IPAMOptions as _docker_swarmkit_v1_IPAMOptions, IPAMOptions__Output as _docker_swarmkit_v1_IPAMOptions__Output } from '../../../docker/swarmkit/v1/IPAMOptions';
import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from '../../../google/protobuf/Any';

export interface Network {
  'id'?: (string);
  'meta'?: (_docker_swarmkit_v1_Meta | null);
  'spec'?: (_docker_swarmkit_v1_NetworkSpec | null);
  'driver_state'?: (_docker_swarmkit_v1_Driver | null);
  'ipam'?: (_docker_swarmkit_v1_IPAMOptions | null);
  'pending_delete'?: (boolean);
  'extra'?: (_google_protobuf_Any | null);
}

export interface Network__Output {
  'id': (string);
  'meta': (_docker_swarmkit_v1_Meta__Output | null);
  'spec': (_docker_swarmkit_v1_NetworkSpec__Output | null);
  'driver_state': (_docker_swarmkit_v1_Driver__Output | null);
  'ipam': (_docker_swarmkit_v1_IPAMOptions__Output | null);
  'pending_delete': (boolean);
  'extra': (_google_protobuf_Any__Output | null);
}
