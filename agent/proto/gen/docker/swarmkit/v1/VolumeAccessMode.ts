// Original file: agent/proto/types.proto


export interface _docker_swarmkit_v1_VolumeAccessMode_BlockVolume {
}

export interface _docker_swarmkit_v1_VolumeAccessMode_BlockVolume__Output {
}

export interface _docker_swarmkit_v1_VolumeAccessMode_MountVolume {
  'fs_type'?: (string);
  'mount_flags'?: (string)[];
}

export interface _docker_swarmkit_v1_VolumeAccessMode_MountVolume__Output {
  'fs_type': (string);
  'mount_flags': (string)[];
}

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_VolumeAccessMode_Scope = {
  SINGLE_NODE: 0,
  MULTI_NODE: 1,
} as const;

export type _docker_swarmkit_v1_VolumeAccessMode_Scope =
  | 'SINGLE_NODE'
  | 0
  | 'MULTI_NODE'
  | 1

export type _docker_swarmkit_v1_VolumeAccessMode_Scope__Output = typeof _docker_swarmkit_v1_VolumeAccessMode_Scope[keyof typeof _docker_swarmkit_v1_VolumeAccessMode_Scope]

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_VolumeAccessMode_Sharing = {
  NONE: 0,
  READ_ONLY: 1,
  ONE_WRITER: 2,
  ALL: 3,
} as const;

export type _docker_swarmkit_v1_VolumeAccessMode_Sharing =
  | 'NONE'
  | 0
  | 'READ_ONLY'
  | 1
  | 'ONE_WRITER'
  | 2
  | 'ALL'
  | 3

export type _docker_swarmkit_v1_VolumeAccessMode_Sharing__Output = typeof _docker_swarmkit_v1_VolumeAccessMode_Sharing[keyof typeof _docker_swarmkit_v1_VolumeAccessMode_Sharing]

export interface VolumeAccessMode {
  'scope'?: (_docker_swarmkit_v1_VolumeAccessMode_Scope);
  'sharing'?: (_docker_swarmkit_v1_VolumeAccessMode_Sharing);
  'block'?: (_docker_swarmkit_v1_VolumeAccessMode_BlockVolume | null);
  'mount'?: (_docker_swarmkit_v1_VolumeAccessMode_MountVolume | null);
  'access_type'?: "block"|"mount";
}

export interface VolumeAccessMode__Output {
  'scope': (_docker_swarmkit_v1_VolumeAccessMode_Scope__Output);
  'sharing': (_docker_swarmkit_v1_VolumeAccessMode_Sharing__Output);
  'block'?: (_docker_swarmkit_v1_VolumeAccessMode_BlockVolume__Output | null);
  'mount'?: (_docker_swarmkit_v1_VolumeAccessMode_MountVolume__Output | null);
  'access_type'?: "block"|"mount";
}
