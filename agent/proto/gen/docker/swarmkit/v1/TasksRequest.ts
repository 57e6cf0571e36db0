// Original file: agent/proto/dispatcher.proto


export interface TasksRequest {
  'session_id'?: (string);
}

export interface TasksRequest__Output {
  'session_id': (string);
}
