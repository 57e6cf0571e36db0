// Original file: agent/proto/dispatcher.proto


export interface UpdateTaskStatusResponse {
}

export interface UpdateTaskStatusResponse__Output {
}
