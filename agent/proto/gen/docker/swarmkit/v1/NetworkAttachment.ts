// Original file: agent/proto/objects.proto

import type { Network as _docker_swarmkit_v1_Network, Network__Output as _docker_swarmkit_v1_Network__Output } from '../../../docker/swarmkit/v1/Network';

export interface NetworkAttachment {
  'network'?: (_docker_swarmkit_v1_Network | null);
  'addresses'?: (string)[];
  'aliases'?: (string)[];
  'driver_attachment_opts'?: ({[key: string]: string});
}

export interface NetworkAttachment__Output {
  'network': (_docker_swarmkit_v1_Network__Output | null);
  'addresses': (string)[];
  'aliases': (string)[];
  'driver_attachment_opts': ({[key: string]: string});
}
