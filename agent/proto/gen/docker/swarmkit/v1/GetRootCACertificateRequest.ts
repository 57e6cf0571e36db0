// Original file: agent/proto/ca.proto


export interface GetRootCACertificateRequest {
}

export interface GetRootCACertificateRequest__Output {
}
