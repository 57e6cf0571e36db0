// Original file: agent/proto/objects.proto

import type { EndpointSpec as _docker_swarmkit_v1_EndpointSpec, EndpointSpec__Output as _docker_swarmkit_v1_EndpointSpec__Output } from '../../../docker/swarmkit/v1/EndpointSpec';
import type { PortConfig as _docker_swarmkit_v1_PortConfig, PortConfig__Output as _docker_swarmkit_v1_PortConfig__Output } from '../../../docker/swarmkit/v1/PortConfig';

export interface _docker_swarmkit_v1_Endpoint_VirtualIP {
  'network_id'?: (string);
  'addr'?: (string);
}

export interface _docker_swarmkit_v1_Endpoint_VirtualIP__Output {
  'network_id': (string);
  'addr': (string);
}

export interface Endpoint {
  'spec'?: (_docker_swarmkit_v1_EndpointSpec | null);
  'ports'?: (_docker_swarmkit_v1_PortConfig)[];
  'virtual_ips'?: (_docker_swarmkit_v1_Endpoint_VirtualIP)[];
}

export interface Endpoint__Output {
  'spec': (_docker_swarmkit_v1_EndpointSpec__Output | null);
  'ports': (_docker_swarmkit_v1_PortConfig__Output)[];
  'virtual_ips': (_docker_swarmkit_v1_Endpoint_VirtualIP__Output)[];
}
