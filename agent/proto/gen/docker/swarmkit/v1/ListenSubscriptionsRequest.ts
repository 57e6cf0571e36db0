// Original file: agent/proto/logbroker.proto


export interface ListenSubscriptionsRequest {
}

export interface ListenSubscriptionsRequest__Output {
}
