// Original file: agent/proto/logbroker.proto

import type { LogSelector as _docker_swarmkit_v1_LogSelector, LogSelector__Output as _docker_swarmkit_v1_LogSelector__Output } from '../../../docker/swarmkit/v1/LogSelector';
import type { LogSubscriptionOptions as _docker_swarmkit_v1_LogSubscriptionOptions, LogSubscriptionOptions__Output as _docker_swarmkit_v1_LogSubscriptionOptions__Output } from '../../../docker/swarmkit/v1/LogSubscriptionOptions';

export interface SubscriptionMessage {
  'id'?: (string);
  'selector'?: (_docker_swarmkit_v1_LogSelector | null);
  'options'?: (_docker_swarmkit_v1_LogSubscriptionOptions | null);
  'close'?: (boolean);
}

export interface SubscriptionMessage__Output {
  'id': (string);
  'selector': (_docker_swarmkit_v1_LogSelector__Output | null);
  'options': (_docker_swarmkit_v1_LogSubscriptionOptions__Output | null);
  'close': (boolean);
}
