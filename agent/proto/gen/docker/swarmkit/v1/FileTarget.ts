// Original file: agent/proto/types.proto


export interface FileTarget {
  'name'?: (string);
  'uid'?: (string);
  'gid'?: (string);
  'mode'?: (number);
}

export interface FileTarget__Output {
  'name': (string);
  'uid': (string);
  'gid': (string);
  'mode': (number);
}
