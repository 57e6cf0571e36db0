// Original file: agent/proto/specs.proto

import type { Mount as _docker_swarmkit_v1_Mount, Mount__Output as _docker_swarmkit_v1_Mount__Output } from '../../../docker/swarmkit/v1/Mount';
import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';
import type { SecretReference as _docker_swarmkit_v1_SecretReference, SecretReference__Output as _docker_swarmkit_v1_SecretReference__Output } from '../../../docker/swarmkit/v1/SecretReference';
import type { HealthConfig as _docker_swarmkit_v1_HealthConfig, HealthConfig__Output as _docker_swarmkit_v1_HealthConfig__Output } from '../../../docker/swarmkit/v1/HealthConfig';
import type { ConfigReference as _docker_swarmkit_v1_ConfigReference, ConfigReference__Output as _docker_swarmkit_v1_ConfigReference__Output } from '../../../docker/swarmkit/v1/ConfigReference';
import type { Privileges as _docker_swarmkit_v1_Privileges, Privileges__Output as _docker_swarmkit_v1_Privileges__Output } from '../../../docker/swarmkit/v1/Privileges';
import type { BoolValue as _google_protobuf_BoolValue, BoolValue__Output as _google_protobuf_BoolValue__Output } from '../../../google/protobuf/BoolValue';
import type { Long } from '@grpc/proto-loader';

export interface _docker_swarmkit_v1_ContainerSpec_DNSConfig {
  'nameservers'?: (string)[];
  'search'?: (string)[];
  'options'?: (string)[];
}

export interface _docker_swarmkit_v1_ContainerSpec_DNSConfig__Output {
  'nameservers': (string)[];
  'search': (string)[];
  'options': (string)[];
}

// Original file: agent/proto/specs.proto

export const _docker_swarmkit_v1_ContainerSpec_Isolation = {
  ISOLATION_DEFAULT: 0,
  ISOLATION_PROCESS: 1,
  ISOLATION_HYPERV: 2,
} as const;

export type _docker_swarmkit_v1_ContainerSpec_Isolation =
  | 'ISOLATION_DEFAULT'
  | 0
  | 'ISOLATION_PROCESS'
  | 1
  | 'ISOLATION_HYPERV'
  | 2

export type _docker_swarmkit_v1_ContainerSpec_Isolation__Output = typeof _docker_swarmkit_v1_ContainerSpec_Isolation[keyof typeof _docker_swarmkit_v1_ContainerSpec_Isolation]

export interface _docker_swarmkit_v1_ContainerSpec_PullOptions {
  'registry_auth'?: (string);
}

export interface _docker_swarmkit_v1_ContainerSpec_PullOptions__Output {
  'registry_auth': (string);
}

export interface _docker_swarmkit_v1_ContainerSpec_Ulimit {
  'name'?: (string);
  'soft'?: (number | string | Long);
  'hard'?: (number | string | Long);
}

export interface _docker_swarmkit_v1_ContainerSpec_Ulimit__Output {
  'name': (string);
  'soft': (string);
  'hard': (string);
}

export interface ContainerSpec {
  'image'?: (string);
  'labels'?: ({[key: string]: string});
  'command'?: (string)[];
  'args'?: (string)[];
  'env'?: (string)[];
  'dir'?: (string);
  'user'?: (string);
  'mounts'?: (_docker_swarmkit_v1_Mount)[];
  'stop_grace_period'?: (_google_protobuf_Duration | null);
  'pull_options'?: (_docker_swarmkit_v1_ContainerSpec_PullOptions | null);
  'groups'?: (string)[];
  'secrets'?: (_docker_swarmkit_v1_SecretReference)[];
  'tty'?: (boolean);
  'hostname'?: (string);
  'dns_config'?: (_docker_swarmkit_v1_ContainerSpec_DNSConfig | null);
  'healthcheck'?: (_docker_swarmkit_v1_HealthConfig | null);
  'hosts'?: (string)[];
  'open_stdin'?: (boolean);
  'read_only'?: (boolean);
  'stop_signal'?: (string);
  'configs'?: (_docker_swarmkit_v1_ConfigReference)[];
  'privileges'?: (_docker_swarmkit_v1_Privileges | null);
  'init'?: (_google_protobuf_BoolValue | null);
  'isolation'?: (_docker_swarmkit_v1_ContainerSpec_Isolation);
  'pidsLimit'?: (number | string | Long);
  'sysctls'?: ({[key: string]: string});
  'capability_add'?: (string)[];
  'capability_drop'?: (string)[];
  'ulimits'?: (_docker_swarmkit_v1_ContainerSpec_Ulimit)[];
  'oom_score_adj'?: (number | string | Long);
}

export interface ContainerSpec__Output {
  'image': (string);
  'labels': ({[key: string]: string});
  'command': (string)[];
  'args': (string)[];
  'env': (string)[];
  'dir': (string);
  'user': (string);
  'mounts': (_docker_swarmkit_v1_Mount__Output)[];
  'stop_grace_period': (_google_protobuf_Duration__Output | null);
  'pull_options': (_docker_swarmkit_v1_ContainerSpec_PullOptions__Output | null);
  'groups': (string)[];
  'secrets': (_docker_swarmkit_v1_SecretReference__Output)[];
  'tty': (boolean);
  'hostname': (string);
  'dns_config': (_docker_swarmkit_v1_ContainerSpec_DNSConfig__Output | null);
  'healthcheck': (_docker_swarmkit_v1_HealthConfig__Output | null);
  'hosts': (string)[];
  'open_stdin': (boolean);
  'read_only': (boolean);
  'stop_signal': (string);
  'configs': (_docker_swarmkit_v1_ConfigReference__Output)[];
  'privileges': (_docker_swarmkit_v1_Privileges__Output | null);
  'init': (_google_protobuf_BoolValue__Output | null);
  'isolation': (_docker_swarmkit_v1_ContainerSpec_Isolation__Output);
  'pidsLimit': (string);
  'sysctls': ({[key: string]: string});
  'capability_add': (string)[];
  'capability_drop': (string)[];
  'ulimits': (_docker_swarmkit_v1_ContainerSpec_Ulimit__Output)[];
  'oom_score_adj': (string);
}
