// Original file: agent/proto/types.proto


export interface PluginDescription {
  'type'?: (string);
  'name'?: (string);
}

export interface PluginDescription__Output {
  'type': (string);
  'name': (string);
}
