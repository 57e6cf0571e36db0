// Original file: agent/proto/types.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';

export interface HealthConfig {
  'test'?: (string)[];
  'interval'?: (_google_protobuf_Duration | null);
  'timeout'?: (_google_protobuf_Duration | null);
  'retries'?: (number);
  'start_period'?: (_google_protobuf_Duration | null);
  'start_interval'?: (_google_protobuf_Duration | null);
}

export interface HealthConfig__Output {
  'test': (string)[];
  'interval': (_google_protobuf_Duration__Output | null);
  'timeout': (_google_protobuf_Duration__Output | null);
  'retries': (number);
  'start_period': (_google_protobuf_Duration__Output | null);
  'start_interval': (_google_protobuf_Duration__Output | null);
}
