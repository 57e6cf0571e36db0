// Original file: agent/proto/types.proto

import type { Platform as _docker_swarmkit_v1_Platform, Platform__Output as _docker_swarmkit_v1_Platform__Output } from '../../../docker/swarmkit/v1/Platform';
import type { Resources as _docker_swarmkit_v1_Resources, Resources__Output as _docker_swarmkit_v1_Resources__Output } from '../../../docker/swarmkit/v1/Resources';
import type { EngineDescription as _docker_swarmkit_v1_EngineDescription, EngineDescription__Output as _docker_swarmkit_v1_EngineDescription__Output } from '../../../docker/swarmkit/v1/EngineDescription';
import type { NodeTLSInfo as _docker_swarmkit_v1_NodeTLSInfo, NodeTLSInfo__Output as _docker_swarmkit_v1_NodeTLSInfo__Output } from '../../../docker/swarmkit/v1/NodeTLSInfo';
import type { NodeCSIInfo as _docker_swarmkit_v1_NodeCSIInfo, NodeCSIInfo__Output as _docker_swarmkit_v1_NodeCSIInfo__Output } from '../../../docker/swarmkit/v1/NodeCSIInfo';

export interface NodeDescription {
  'hostname'?: (string);
  'platform'?: (_docker_swarmkit_v1_Platform | null);
  'resources'?: (_docker_swarmkit_v1_Resources | null);
  'engine'?: (_docker_swarmkit_v1_EngineDescription | null);
  'tls_info'?: (_docker_swarmkit_v1_NodeTLSInfo | null);
  'fips'?: (boolean);
  'csi_info'?: (_docker_swarmkit_v1_NodeCSIInfo)[];
}

export interface NodeDescription__Output {
  'hostname': (string);
  'platform': (_docker_swarmkit_v1_Platform__Output | null);
  'resources': (_docker_swarmkit_v1_Resources__Output | null);
  'engine': (_docker_swarmkit_v1_EngineDescription__Output | null);
  'tls_info': (_docker_swarmkit_v1_NodeTLSInfo__Output | null);
  'fips': (boolean);
  'csi_info': (_docker_swarmkit_v1_NodeCSIInfo__Output)[];
}
