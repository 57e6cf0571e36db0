// Original file: agent/proto/types.proto

import type { FileTarget as _docker_swarmkit_v1_FileTarget, FileTarget__Output as _docker_swarmkit_v1_FileTarget__Output } from '../../../docker/swarmkit/v1/FileTarget';

export interface SecretReference {
  'secret_id'?: (string);
  'secret_name'?: (string);
  'file'?: (_docker_swarmkit_v1_FileTarget | null);
  'target'?: "file";
}

export interface SecretReference__Output {
  'secret_id': (string);
  'secret_name': (string);
  'file'?: (_docker_swarmkit_v1_FileTarget__Output | null);
  'target'?: "file";
}
