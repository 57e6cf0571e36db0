// Original file: agent/proto/types.proto

import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { Long } from '@grpc/proto-loader';

export interface _docker_swarmkit_v1_Mount_BindOptions {
  'propagation'?: (_docker_swarmkit_v1_Mount_BindOptions_Propagation);
  'nonrecursive'?: (boolean);
  'createmountpoint'?: (boolean);
  'readonlynonrecursive'?: (boolean);
  'readonlyforcerecursive'?: (boolean);
}

export interface _docker_swarmkit_v1_Mount_BindOptions__Output {
  'propagation': (_docker_swarmkit_v1_Mount_BindOptions_Propagation__Output);
  'nonrecursive': (boolean);
  'createmountpoint': (boolean);
  'readonlynonrecursive': (boolean);
  'readonlyforcerecursive': (boolean);
}

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_Mount_Consistency = {
  DEFAULT: 0,
  CONSISTENT: 1,
  CACHED: 2,
  DELEGATED: 3,
} as const;

export type _docker_swarmkit_v1_Mount_Consistency =
  | 'DEFAULT'
  | 0
  | 'CONSISTENT'
  | 1
  | 'CACHED'
  | 2
  | 'DELEGATED'
  | 3

export type _docker_swarmkit_v1_Mount_Consistency__Output = typeof _docker_swarmkit_v1_Mount_Consistency[keyof typeof _docker_swarmkit_v1_Mount_Consistency]

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_Mount_BindOptions_Propagation = {
  RPRIVATE: 0,
  PRIVATE: 1,
  RSHARED: 2,
  SHARED: 3,
  RSLAVE: 4,
  SLAVE: 5,
} as const;

export type _docker_swarmkit_v1_Mount_BindOptions_Propagation =
  | 'RPRIVATE'
  | 0
  | 'PRIVATE'
  | 1
  | 'RSHARED'
  | 2
  | 'SHARED'
  | 3
  | 'RSLAVE'
  | 4
  | 'SLAVE'
  | 5

export type _docker_swarmkit_v1_Mount_BindOptions_Propagation__Output = typeof _docker_swarmkit_v1_Mount_BindOptions_Propagation[keyof typeof _docker_swarmkit_v1_Mount_BindOptions_Propagation]

export interface _docker_swarmkit_v1_Mount_TmpfsOptions {
  'size_bytes'?: (number | string | Long);
  'mode'?: (number);
  'options'?: (string);
}

export interface _docker_swarmkit_v1_Mount_TmpfsOptions__Output {
  'size_bytes': (string);
  'mode': (number);
  'options': (string);
}

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_Mount_Type = {
  BIND: 0,
  VOLUME: 1,
  TMPFS: 2,
  NPIPE: 3,
  CLUSTER: 4,
} as const;

export type _docker_swarmkit_v1_Mount_Type =
  | 'BIND'
  | 0
  | 'VOLUME'
  | 1
  | 'TMPFS'
  | 2
  | 'NPIPE'
  | 3
  | 'CLUSTER'
  | 4

export type _docker_swarmkit_v1_Mount_Type__Output = typeof _docker_swarmkit_v1_Mount_Type[keyof typeof _docker_swarmkit_v1_Mount_Type]

export interface _docker_swarmkit_v1_Mount_VolumeOptions {
  'nocopy'?: (boolean);
  'labels'?: ({[key: string]: string});
  'driver_config'?: (_docker_swarmkit_v1_Driver | null);
  'subpath'?: (string);
}

export interface _docker_swarmkit_v1_Mount_VolumeOptions__Output {
  'nocopy': (boolean);
  'labels': ({[key: string]: string});
  'driver_config': (_docker_swarmkit_v1_Driver__Output | null);
  'subpath': (string);
}

export interface Mount {
  'type'?: (_docker_swarmkit_v1_Mount_Type);
  'source'?: (string);
  'target'?: (string);
  'readonly'?: (boolean);
  'bind_options'?: (_docker_swarmkit_v1_Mount_BindOptions | null);
  'volume_options'?: (_docker_swarmkit_v1_Mount_VolumeOptions | null);
  'tmpfs_options'?: (_docker_swarmkit_v1_Mount_TmpfsOptions | null);
  'consistency'?: (_docker_swarmkit_v1_Mount_Consistency);
}

export interface Mount__Output {
  'type': (_docker_swarmkit_v1_Mount_Type__Output);
  'source': (string);
  'target': (string);
  'readonly': (boolean);
  'bind_options': (_docker_swarmkit_v1_Mount_BindOptions__Output | null);
  'volume_options': (_docker_swarmkit_v1_Mount_VolumeOptions__Output | null);
  'tmpfs_options': (_docker_swarmkit_v1_Mount_TmpfsOptions__Output | null);
  'consistency': (_docker_swarmkit_v1_Mount_Consistency__Output);
}
