// Original file: agent/proto/ca.proto


export interface GetRootCACertificateResponse {
  'certificate'?: (Buffer | Uint8Array | string);
}

export interface GetRootCACertificateResponse__Output {
  'certificate': (Buffer);
}
