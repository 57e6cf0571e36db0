// Original file: agent/proto/types.proto

import type { Long } from '@grpc/proto-loader';

export interface DiscreteGenericResource {
  'kind'?: (string);
  'value'?: (number | string | Long);
}

export interface DiscreteGenericResource__Output {
  'kind': (string);
  'value': (string);
}
