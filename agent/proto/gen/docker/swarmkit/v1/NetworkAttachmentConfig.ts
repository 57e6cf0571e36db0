// Original file: agent/proto/types.proto


export interface NetworkAttachmentConfig {
  'target'?: (string);
  'aliases'?: (string)[];
  'addresses'?: (string)[];
  'driver_attachment_opts'?: ({[key: string]: string});
}

export interface NetworkAttachmentConfig__Output {
  'target': (string);
  'aliases': (string)[];
  'addresses': (string)[];
  'driver_attachment_opts': ({[key: string]: string});
}
