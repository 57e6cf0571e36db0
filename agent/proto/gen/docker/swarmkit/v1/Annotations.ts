// Original file: agent/proto/types.proto

import type { IndexEntry as _docker_swarmkit_v1_IndexEntry, IndexEntry__Output as _docker_swarmkit_v1_IndexEntry__Output } from '../../../docker/swarmkit/v1/IndexEntry';

export interface Annotations {
  'name'?: (string);
  'labels'?: ({[key: string]: string});
  'indices'?: (_docker_swarmkit_v1_IndexEntry)[];
}

export interface Annotations__Output {
  'name': (string);
  'labels': ({[key: string]: string});
  'indices': (_docker_swarmkit_v1_IndexEntry__Output)[];
}
