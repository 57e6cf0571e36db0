// Original file: agent/proto/logbroker.proto

import type { LogContext as _docker_swarmkit_v1_LogContext, LogContext__Output as _docker_swarmkit_v1_LogContext__Output } from '../../../docker/swarmkit/v1/LogContext';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';
import type { LogStream as _docker_swarmkit_v1_LogStream, LogStream__Output as _docker_swarmkit_v1_LogStream__Output } from '../../../docker/swarmkit/v1/LogStream';
import type { LogAttr as _docker_swarmkit_v1_LogAttr, LogAttr__Output as _docker_swarmkit_v1_LogAttr__Output } from '../../../docker/swarmkit/v1/LogAttr';

export interface LogMessage {
  'context'?: (_docker_swarmkit_v1_LogContext | null);
  'timestamp'?: (_google_protobuf_Timestamp | null);
  'stream'?: (_docker_swarmkit_v1_LogStream);
  'data'?: (Buffer | Uint8Array | string);
  'attrs'?: (_docker_swarmkit_v1_LogAttr)[];
}

export interface LogMessage__Output {
  'context': (_docker_swarmkit_v1_LogContext__Output | null);
  'timestamp': (_google_protobuf_Timestamp__Output | null);
  'stream': (_docker_swarmkit_v1_LogStream__Output);
  'data': (Buffer);
  'attrs': (_docker_swarmkit_v1_LogAttr__Output)[];
}
