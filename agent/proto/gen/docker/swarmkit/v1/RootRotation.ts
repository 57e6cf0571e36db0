// Original file: agent/proto/types.proto


export interface RootRotation {
  'ca_cert'?: (Buffer | Uint8Array | string);
  'ca_key'?: (Buffer | Uint8Array | string);
  'cross_signed_ca_cert'?: (Buffer | Uint8Array | string);
}

export interface RootRotation__Output {
  'ca_cert': (Buffer);
  'ca_key': (Buffer);
  'cross_signed_ca_cert': (Buffer);
}
