import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ListenSubscriptionsRequest as _docker_swarmkit_v1_ListenSubscriptionsRequest, ListenSubscriptionsRequest__Output as _docker_swarmkit_v1_ListenSubscriptionsRequest__Output } from './docker/swarmkit/v1/ListenSubscriptionsRequest';
import type { LogAttr as _docker_swarmkit_v1_LogAttr, LogAttr__Output as _docker_swarmkit_v1_LogAttr__Output } from './docker/swarmkit/v1/LogAttr';
import type { LogBrokerClient as _docker_swarmkit_v1_LogBrokerClient, LogBrokerDefinition as _docker_swarmkit_v1_LogBrokerDefinition } from './docker/swarmkit/v1/LogBroker';
import type { LogContext as _docker_swarmkit_v1_LogContext, LogContext__Output as _docker_swarmkit_v1_LogContext__Output } from './docker/swarmkit/v1/LogContext';
import type { LogMessage as _docker_swarmkit_v1_LogMessage, LogMessage__Output as _docker_swarmkit_v1_LogMessage__Output } from './docker/swarmkit/v1/LogMessage';
import type { LogSelector as _docker_swarmkit_v1_LogSelector, LogSelector__Output as _docker_swarmkit_v1_LogSelector__Output } from './docker/swarmkit/v1/LogSelector';
import type { LogSubscriptionOptions as _docker_swarmkit_v1_LogSubscriptionOptions, LogSubscriptionOptions__Output as _docker_swarmkit_v1_LogSubscriptionOptions__Output } from './docker/swarmkit/v1/LogSubscriptionOptions';
import type { PublishLogsMessage as _docker_swarmkit_v1_PublishLogsMessage, PublishLogsMessage__Output as _docker_swarmkit_v1_PublishLogsMessage__Output } from './docker/swarmkit/v1/PublishLogsMessage';
import type { PublishLogsResponse as _docker_swarmkit_v1_PublishLogsResponse, PublishLogsResponse__Output as _docker_swarmkit_v1_PublishLogsResponse__Output } from './docker/swarmkit/v1/PublishLogsResponse';
import type { SubscriptionMessage as _docker_swarmkit_v1_SubscriptionMessage, SubscriptionMessage__Output as _docker_swarmkit_v1_SubscriptionMessage__Output } from './docker/swarmkit/v1/SubscriptionMessage';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  docker: {
    swarmkit: {
      v1: {
        ListenSubscriptionsRequest: MessageTypeDefinition<_docker_swarmkit_v1_ListenSubscriptionsRequest, _docker_swarmkit_v1_ListenSubscriptionsRequest__Output>
        LogAttr: MessageTypeDefinition<_docker_swarmkit_v1_LogAttr, _docker_swarmkit_v1_LogAttr__Output>
        LogBroker: SubtypeConstructor<typeof grpc.Client, _docker_swarmkit_v1_LogBrokerClient> & { service: _docker_swarmkit_v1_LogBrokerDefinition }
        LogContext: MessageTypeDefinition<_docker_swarmkit_v1_LogContext, _docker_swarmkit_v1_LogContext__Output>
        LogMessage: MessageTypeDefinition<_docker_swarmkit_v1_LogMessage, _docker_swarmkit_v1_LogMessage__Output>
        LogSelector: MessageTypeDefinition<_docker_swarmkit_v1_LogSelector, _docker_swarmkit_v1_LogSelector__Output>
        LogStream: EnumTypeDefinition
        LogSubscriptionOptions: MessageTypeDefinition<_docker_swarmkit_v1_LogSubscriptionOptions, _docker_swarmkit_v1_LogSubscriptionOptions__Output>
        PublishLogsMessage: MessageTypeDefinition<_docker_swarmkit_v1_PublishLogsMessage, _docker_swarmkit_v1_PublishLogsMessage__Output>
        PublishLogsResponse: MessageTypeDefinition<_docker_swarmkit_v1_PublishLogsResponse, _docker_swarmkit_v1_PublishLogsResponse__Output>
        SubscriptionMessage: MessageTypeDefinition<_docker_swarmkit_v1_SubscriptionMessage, _docker_swarmkit_v1_SubscriptionMessage__Output>
      }
    }
  }
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
}

