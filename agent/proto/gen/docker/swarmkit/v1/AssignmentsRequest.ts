// Original file: agent/proto/dispatcher.proto


export interface AssignmentsRequest {
  'session_id'?: (string);
}

export interface AssignmentsRequest__Output {
  'session_id': (string);
}
