// Original file: agent/proto/types.proto


export interface JoinTokens {
  'worker'?: (string);
  'manager'?: (string);
}

export interface JoinTokens__Output {
  'worker': (string);
  'manager': (string);
}
