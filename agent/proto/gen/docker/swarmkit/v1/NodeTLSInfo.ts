// Original file: agent/proto/types.proto


export interface NodeTLSInfo {
  'trust_root'?: (Buffer | Uint8Array | string);
  'cert_issuer_subject'?: (Buffer | Uint8Array | string);
  'cert_issuer_public_key'?: (Buffer | Uint8Array | string);
}

export interface NodeTLSInfo__Output {
  'trust_root': (Buffer);
  'cert_issuer_subject': (Buffer);
  'cert_issuer_public_key': (Buffer);
}
