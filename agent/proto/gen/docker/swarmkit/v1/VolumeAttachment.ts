// Original file: agent/proto/types.proto


export interface VolumeAttachment {
  'id'?: (string);
  'source'?: (string);
  'target'?: (string);
}

export interface VolumeAttachment__Output {
  'id': (string);
  'source': (string);
  'target': (string);
}
