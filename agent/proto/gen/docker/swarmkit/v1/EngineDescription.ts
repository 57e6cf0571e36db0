// Original file: agent/proto/types.proto

import type { PluginDescription as _docker_swarmkit_v1_PluginDescription, PluginDescription__Output as _docker_swarmkit_v1_PluginDescription__Output } from '../../../docker/swarmkit/v1/PluginDescription';

export interface EngineDescription {
  'engine_version'?: (string);
  'labels'?: ({[key: string]: string});
  'plugins'?: (_docker_swarmkit_v1_PluginDescription)[];
}

export interface EngineDescription__Output {
  'engine_version': (string);
  'labels': ({[key: string]: string});
  'plugins': (_docker_swarmkit_v1_PluginDescription__Output)[];
}
