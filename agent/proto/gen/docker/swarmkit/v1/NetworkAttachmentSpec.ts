// Original file: agent/proto/specs.proto


export interface NetworkAttachmentSpec {
  'container_id'?: (string);
}

export interface NetworkAttachmentSpec__Output {
  'container_id': (string);
}
