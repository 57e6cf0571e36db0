// Original file: agent/proto/types.proto


export interface Peer {
  'node_id'?: (string);
  'addr'?: (string);
}

export interface Peer__Output {
  'node_id': (string);
  'addr': (string);
}
