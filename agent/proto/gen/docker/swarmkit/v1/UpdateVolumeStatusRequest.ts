// Original file: agent/proto/dispatcher.proto


export interface _docker_swarmkit_v1_UpdateVolumeStatusRequest_VolumeStatusUpdate {
  'id'?: (string);
  'unpublished'?: (boolean);
}

export interface _docker_swarmkit_v1_UpdateVolumeStatusRequest_VolumeStatusUpdate__Output {
  'id': (string);
  'unpublished': (boolean);
}

export interface UpdateVolumeStatusRequest {
  'session_id'?: (string);
  'updates'?: (_docker_swarmkit_v1_UpdateVolumeStatusRequest_VolumeStatusUpdate)[];
}

export interface UpdateVolumeStatusRequest__Output {
  'session_id': (string);
  'updates': (_docker_swarmkit_v1_UpdateVolumeStatusRequest_VolumeStatusUpdate__Output)[];
}
