// Original file: agent/proto/types.proto

import type { FileTarget as _docker_swarmkit_v1_FileTarget, FileTarget__Output as _docker_swarmkit_v1_FileTarget__Output } from '../../../docker/swarmkit/v1/FileTarget';
import type { RuntimeTarget as _docker_swarmkit_v1_RuntimeTarget, RuntimeTarget__Output as _docker_swarmkit_v1_RuntimeTarget__Output } from '../../../docker/swarmkit/v1/RuntimeTarget';

export interface ConfigReference {
  'config_id'?: (string);
  'config_name'?: (string);
  'file'?: (_docker_swarmkit_v1_FileTarget | null);
  'runtime'?: (_docker_swarmkit_v1_RuntimeTarget | null);
  'target'?: "file"|"runtime";
}

export interface ConfigReference__Output {
  'config_id': (string);
  'config_name': (string);
  'file'?: (_docker_swarmkit_v1_FileTarget__Output | null);
  'runtime'?: (_docker_swarmkit_v1_RuntimeTarget__Output | null);
  'target'?: "file"|"runtime";
}
