// Original file: agent/proto/types.proto


export interface VolumeSecret {
  'key'?: (string);
  'secret'?: (string);
}

export interface VolumeSecret__Output {
  'key': (string);
  'secret': (string);
}
