// Original file: agent/proto/types.proto


export interface IndexEntry {
  'key'?: (string);
  'val'?: (string);
}

export interface IndexEntry__Output {
  'key': (string);
  'val': (string);
}
