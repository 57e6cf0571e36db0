// Original file: agent/proto/logbroker.proto


export interface LogSelector {
  'service_ids'?: (string)[];
  'node_ids'?: (string)[];
  'task_ids'?: (string)[];
}

export interface LogSelector__Output {
  'service_ids': (string)[];
  'node_ids': (string)[];
  'task_ids': (string)[];
}
