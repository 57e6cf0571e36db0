// Original file: agent/proto/specs.proto

import type { Any as _google_protobuf_Any, Any__Output as _google_protobuf_Any__Output } from '../../../google/protobuf/Any';

export interface GenericRuntimeSpec {
  'kind'?: (string);
  'payload'?: (_google_protobuf_Any | null);
}

export interface GenericRuntimeSpec__Output {
  'kind': (string);
  'payload': (_google_protobuf_Any__Output | null);
}
