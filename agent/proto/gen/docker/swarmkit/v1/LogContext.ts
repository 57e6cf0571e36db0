// Original file: agent/proto/logbroker.proto


export interface LogContext {
  'service_id'?: (string);
  'node_id'?: (string);
  'task_id'?: (string);
}

export interface LogContext__Output {
  'service_id': (string);
  'node_id': (string);
  'task_id': (string);
}
