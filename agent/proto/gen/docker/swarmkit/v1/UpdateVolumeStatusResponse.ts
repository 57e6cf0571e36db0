// Original file: agent/proto/dispatcher.proto


export interface UpdateVolumeStatusResponse {
}

export interface UpdateVolumeStatusResponse__Output {
}
