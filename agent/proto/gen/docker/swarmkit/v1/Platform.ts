// Original file: agent/proto/types.proto


export interface Platform {
  'architecture'?: (string);
  'os'?: (string);
}

export interface Platform__Output {
  'architecture': (string);
  'os': (string);
}
