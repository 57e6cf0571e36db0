// Original file: agent/proto/logbroker.proto

import type { LogMessage as _docker_swarmkit_v1_LogMessage, LogMessage__Output as _docker_swarmkit_v1_LogMessage__Output } from '../../../docker/swarmkit/v1/LogMessage';

export interface PublishLogsMessage {
  'subscription_id'?: (string);
  'messages'?: (_docker_swarmkit_v1_LogMessage)[];
  'close'?: (boolean);
}

export interface PublishLogsMessage__Output {
  'subscription_id': (string);
  'messages': (_docker_swarmkit_v1_LogMessage__Output)[];
  'close': (boolean);
}
