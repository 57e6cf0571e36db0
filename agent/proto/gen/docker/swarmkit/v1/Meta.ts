// Original file: agent/proto/objects.proto

import type { Version as _docker_swarmkit_v1_Version, Version__Output as _docker_swarmkit_v1_Version__Output } from '../../../docker/swarmkit/v1/Version';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

export interface Meta {
  'version'?: (_docker_swarmkit_v1_Version | null);
  'created_at'?: (_google_protobuf_Timestamp | null);
  'updated_at'?: (_google_protobuf_Timestamp | null);
}

export interface Meta__Output {
  'version': (_docker_swarmkit_v1_Version__Output | null);
  'created_at': (_google_protobuf_Timestamp__Output | null);
  'updated_at': (_google_protobuf_Timestamp__Output | null);
}
