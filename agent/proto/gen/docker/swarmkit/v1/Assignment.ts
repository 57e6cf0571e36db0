// Original file: agent/proto/dispatcher.proto

import type { Task as _docker_swarmkit_v1_Task, Task__Output as _docker_swarmkit_v1_Task__Output } from '../../../docker/swarmkit/v1/Task';
import type { Secret as _docker_swarmkit_v1_Secret, Secret__Output as _docker_swarmkit_v1_Secret__Output } from '../../../docker/swarmkit/v1/Secret';
import type { Config as _docker_swarmkit_v1_Config, Config__Output as _docker_swarmkit_v1_Config__Output } from '../../../docker/swarmkit/v1/Config';
import type { VolumeAssignment as _docker_swarmkit_v1_VolumeAssignment, VolumeAssignment__Output as _docker_swarmkit_v1_VolumeAssignment__Output } from '../../../docker/swarmkit/v1/VolumeAssignment';

export interface Assignment {
  'task'?: (_docker_swarmkit_v1_Task | null);
  'secret'?: (_docker_swarmkit_v1_Secret | null);
  'config'?: (_docker_swarmkit_v1_Config | null);
  'volume'?: (_docker_swarmkit_v1_VolumeAssignment | null);
  'item'?: "task"|"secret"|"config"|"volume";
}

export interface Assignment__Output {
  'task'?: (_docker_swarmkit_v1_Task__Output | null);
  'secret'?: (_docker_swarmkit_v1_Secret__Output | null);
  'config'?: (_docker_swarmkit_v1_Config__Output | null);
  'volume'?: (_docker_swarmkit_v1_VolumeAssignment__Output | null);
  'item'?: "task"|"secret"|"config"|"volume";
}
