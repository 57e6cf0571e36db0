// Original file: agent/proto/types.proto

import type { Topology as _docker_swarmkit_v1_Topology, Topology__Output as _docker_swarmkit_v1_Topology__Output } from '../../../docker/swarmkit/v1/Topology';
import type { Long } from '@grpc/proto-loader';

export interface NodeCSIInfo {
  'plugin_name'?: (string);
  'node_id'?: (string);
  'max_volumes_per_node'?: (number | string | Long);
  'accessible_topology'?: (_docker_swarmkit_v1_Topology | null);
}

export interface NodeCSIInfo__Output {
  'plugin_name': (string);
  'node_id': (string);
  'max_volumes_per_node': (string);
  'accessible_topology': (_docker_swarmkit_v1_Topology__Output | null);
}
