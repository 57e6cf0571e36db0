// Original file: agent/proto/types.proto


// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_IPAMConfig_AddressFamily = {
  UNKNOWN: 0,
  IPV4: 4,
  IPV6: 6,
} as const;

export type _docker_swarmkit_v1_IPAMConfig_AddressFamily =
  | 'UNKNOWN'
  | 0
  | 'IPV4'
  | 4
  | 'IPV6'
  | 6

export type _docker_swarmkit_v1_IPAMConfig_AddressFamily__Output = typeof _docker_swarmkit_v1_IPAMConfig_AddressFamily[keyof typeof _docker_swarmkit_v1_IPAMConfig_AddressFamily]

export interface IPAMConfig {
  'family'?: (_docker_swarmkit_v1_IPAMConfig_AddressFamily);
  'subnet'?: (string);
  'range'?: (string);
  'gateway'?: (string);
  'reserved'?: ({[key: string]: string});
}

export interface IPAMConfig__Output {
  'family': (_docker_swarmkit_v1_IPAMConfig_AddressFamily__Output);
  'subnet': (string);
  'range': (string);
  'gateway': (string);
  'reserved': ({[key: string]: string});
}
