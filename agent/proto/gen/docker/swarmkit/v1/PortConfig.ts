// Original file: agent/proto/types.proto


// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_PortConfig_Protocol = {
  TCP: 0,
  UDP: 1,
  SCTP: 2,
} as const;

export type _docker_swarmkit_v1_PortConfig_Protocol =
  | 'TCP'
  | 0
  | 'UDP'
  | 1
  | 'SCTP'
  | 2

export type _docker_swarmkit_v1_PortConfig_Protocol__Output = typeof _docker_swarmkit_v1_PortConfig_Protocol[keyof typeof _docker_swarmkit_v1_PortConfig_Protocol]

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_PortConfig_PublishMode = {
  INGRESS: 0,
  HOST: 1,
} as const;

export type _docker_swarmkit_v1_PortConfig_PublishMode =
  | 'INGRESS'
  | 0
  | 'HOST'
  | 1

export type _docker_swarmkit_v1_PortConfig_PublishMode__Output = typeof _docker_swarmkit_v1_PortConfig_PublishMode[keyof typeof _docker_swarmkit_v1_PortConfig_PublishMode]

export interface PortConfig {
  'name'?: (string);
  'protocol'?: (_docker_swarmkit_v1_PortConfig_Protocol);
  'target_port'?: (number);
  'published_port'?: (number);
  'publish_mode'?: (_docker_swarmkit_v1_PortConfig_PublishMode);
}

export interface PortConfig__Output {
  'name': (string);
  'protocol': (_docker_swarmkit_v1_PortConfig_Protocol__Output);
  'target_port': (number);
  'published_port': (number);
  'publish_mode': (_docker_swarmkit_v1_PortConfig_PublishMode__Output);
}
