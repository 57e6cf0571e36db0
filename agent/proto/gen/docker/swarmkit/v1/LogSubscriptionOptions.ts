// Original file: agent/proto/logbroker.proto

import type { LogStream as _docker_swarmkit_v1_LogStream, LogStream__Output as _docker_swarmkit_v1_LogStream__Output } from '../../../docker/swarmkit/v1/LogStream';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';
import type { Long } from '@grpc/proto-loader';

export interface LogSubscriptionOptions {
  'streams'?: (_docker_swarmkit_v1_LogStream)[];
  'follow'?: (boolean);
  'tail'?: (number | string | Long);
  'since'?: (_google_protobuf_Timestamp | null);
}

export interface LogSubscriptionOptions__Output {
  'streams': (_docker_swarmkit_v1_LogStream__Output)[];
  'follow': (boolean);
  'tail': (string);
  'since': (_google_protobuf_Timestamp__Output | null);
}
