// Original file: agent/proto/types.proto

import type { Long } from '@grpc/proto-loader';

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_EncryptionKey_Algorithm = {
  AES_128_GCM: 0,
} as const;

export type _docker_swarmkit_v1_EncryptionKey_Algorithm =
  | 'AES_128_GCM'
  | 0

export type _docker_swarmkit_v1_EncryptionKey_Algorithm__Output = typeof _docker_swarmkit_v1_EncryptionKey_Algorithm[keyof typeof _docker_swarmkit_v1_EncryptionKey_Algorithm]

export interface EncryptionKey {
  'subsystem'?: (string);
  'algorithm'?: (_docker_swarmkit_v1_EncryptionKey_Algorithm);
  'key'?: (Buffer | Uint8Array | string);
  'lamport_time'?: (number | string | Long);
}

export interface EncryptionKey__Output {
  'subsystem': (string);
  'algorithm': (_docker_swarmkit_v1_EncryptionKey_Algorithm__Output);
  'key': (Buffer);
  'lamport_time': (string);
}
