// Original file: agent/proto/logbroker.proto


export interface LogAttr {
  'key'?: (string);
  'value'?: (string);
}

export interface LogAttr__Output {
  'key': (string);
  'value': (string);
}
