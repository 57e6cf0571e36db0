// Original file: agent/proto/logbroker.proto


export interface PublishLogsResponse {
}

export interface PublishLogsResponse__Output {
}
