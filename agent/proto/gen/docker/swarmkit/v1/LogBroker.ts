// Original file: agent/proto/logbroker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ListenSubscriptionsRequest as _docker_swarmkit_v1_ListenSubscriptionsRequest, ListenSubscriptionsRequest__Output as _docker_swarmkit_v1_ListenSubscriptionsRequest__Output } from '../../../docker/swarmkit/v1/ListenSubscriptionsRequest';
import type { PublishLogsMessage as _docker_swarmkit_v1_PublishLogsMessage, PublishLogsMessage__Output as _docker_swarmkit_v1_PublishLogsMessage__Output } from '../../../docker/swarmkit/v1/PublishLogsMessage';
import type { PublishLogsResponse as _docker_swarmkit_v1_PublishLogsResponse, PublishLogsResponse__Output as _docker_swarmkit_v1_PublishLogsResponse__Output } from '../../../docker/swarmkit/v1/PublishLogsResponse';
import type { SubscriptionMessage as _docker_swarmkit_v1_SubscriptionMessage, SubscriptionMessage__Output as _docker_swarmkit_v1_SubscriptionMessage__Output } from '../../../docker/swarmkit/v1/SubscriptionMessage';

export interface LogBrokerClient extends grpc.Client {
  ListenSubscriptions(argument: _docker_swarmkit_v1_ListenSubscriptionsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SubscriptionMessage__Output>;
  ListenSubscriptions(argument: _docker_swarmkit_v1_ListenSubscriptionsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SubscriptionMessage__Output>;
  listenSubscriptions(argument: _docker_swarmkit_v1_ListenSubscriptionsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SubscriptionMessage__Output>;
  listenSubscriptions(argument: _docker_swarmkit_v1_ListenSubscriptionsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SubscriptionMessage__Output>;
  
  PublishLogs(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  PublishLogs(metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  PublishLogs(options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  PublishLogs(callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  publishLogs(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  publishLogs(metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  publishLogs(options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  publishLogs(callback: grpc.requestCallback<_docker_swarmkit_v1_PublishLogsResponse__Output>): grpc.ClientWritableStream<_docker_swarmkit_v1_PublishLogsMessage>;
  
}

export interface LogBrokerHandlers extends grpc.UntypedServiceImplementation {
  ListenSubscriptions: grpc.handleServerStreamingCall<_docker_swarmkit_v1_ListenSubscriptionsRequest__Output, _docker_swarmkit_v1_SubscriptionMessage>;
  
  PublishLogs: grpc.handleClientStreamingCall<_docker_swarmkit_v1_PublishLogsMessage__Output, _docker_swarmkit_v1_PublishLogsResponse>;
  
}

export interface LogBrokerDefinition extends grpc.ServiceDefinition {
  ListenSubscriptions: MethodDefinition<_docker_swarmkit_v1_ListenSubscriptionsRequest, _docker_swarmkit_v1_SubscriptionMessage, _docker_swarmkit_v1_ListenSubscriptionsRequest__Output, _docker_swarmkit_v1_SubscriptionMessage__Output>
  PublishLogs: MethodDefinition<_docker_swarmkit_v1_PublishLogsMessage, _docker_swarmkit_v1_PublishLogsResponse, _docker_swarmkit_v1_PublishLogsMessage__Output, _docker_swarmkit_v1_PublishLogsResponse__Output>
}
