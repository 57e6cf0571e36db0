// Original file: agent/proto/types.proto


export interface Driver {
  'name'?: (string);
  'options'?: ({[key: string]: string});
}

export interface Driver__Output {
  'name': (string);
  'options': ({[key: string]: string});
}
