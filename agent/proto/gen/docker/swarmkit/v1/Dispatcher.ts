// Original file: agent/proto/dispatcher.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AssignmentsMessage as _docker_swarmkit_v1_AssignmentsMessage, AssignmentsMessage__Output as _docker_swarmkit_v1_AssignmentsMessage__Output } from '../../../docker/swarmkit/v1/AssignmentsMessage';
import type { AssignmentsRequest as _docker_swarmkit_v1_AssignmentsRequest, AssignmentsRequest__Output as _docker_swarmkit_v1_AssignmentsRequest__Output } from '../../../docker/swarmkit/v1/AssignmentsRequest';
import type { HeartbeatRequest as _docker_swarmkit_v1_HeartbeatRequest, HeartbeatRequest__Output as _docker_swarmkit_v1_HeartbeatRequest__Output } from '../../../docker/swarmkit/v1/HeartbeatRequest';
import type { HeartbeatResponse as _docker_swarmkit_v1_HeartbeatResponse, HeartbeatResponse__Output as _docker_swarmkit_v1_HeartbeatResponse__Output } from '../../../docker/swarmkit/v1/HeartbeatResponse';
import type { SessionMessage as _docker_swarmkit_v1_SessionMessage, SessionMessage__Output as _docker_swarmkit_v1_SessionMessage__Output } from '../../../docker/swarmkit/v1/SessionMessage';
import type { SessionRequest as _docker_swarmkit_v1_SessionRequest, SessionRequest__Output as _docker_swarmkit_v1_SessionRequest__Output } from '../../../docker/swarmkit/v1/SessionRequest';
import type { TasksMessage as _docker_swarmkit_v1_TasksMessage, TasksMessage__Output as _docker_swarmkit_v1_TasksMessage__Output } from '../../../docker/swarmkit/v1/TasksMessage';
import type { TasksRequest as _docker_swarmkit_v1_TasksRequest, TasksRequest__Output as _docker_swarmkit_v1_TasksRequest__Output } from '../../../docker/swarmkit/v1/TasksRequest';
import type { UpdateTaskStatusRequest as _docker_swarmkit_v1_UpdateTaskStatusRequest, UpdateTaskStatusRequest__Output as _docker_swarmkit_v1_UpdateTaskStatusRequest__Output } from '../../../docker/swarmkit/v1/UpdateTaskStatusRequest';
import type { UpdateTaskStatusResponse as _docker_swarmkit_v1_UpdateTaskStatusResponse, UpdateTaskStatusResponse__Output as _docker_swarmkit_v1_UpdateTaskStatusResponse__Output } from '../../../docker/swarmkit/v1/UpdateTaskStatusResponse';
import type { UpdateVolumeStatusRequest as _docker_swarmkit_v1_UpdateVolumeStatusRequest, UpdateVolumeStatusRequest__Output as _docker_swarmkit_v1_UpdateVolumeStatusRequest__Output } from '../../../docker/swarmkit/v1/UpdateVolumeStatusRequest';
import type { UpdateVolumeStatusResponse as _docker_swarmkit_v1_UpdateVolumeStatusResponse, UpdateVolumeStatusResponse__Output as _docker_swarmkit_v1_UpdateVolumeStatusResponse__Output } from '../../../docker/swarmkit/v1/UpdateVolumeStatusResponse';

export interface DispatcherClient extends grpc.Client {
  Assignments(argument: _docker_swarmkit_v1_AssignmentsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_AssignmentsMessage__Output>;
  Assignments(argument: _docker_swarmkit_v1_AssignmentsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_AssignmentsMessage__Output>;
  assignments(argument: _docker_swarmkit_v1_AssignmentsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_AssignmentsMessage__Output>;
  assignments(argument: _docker_swarmkit_v1_AssignmentsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_AssignmentsMessage__Output>;
  
  Heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  Heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  heartbeat(argument: _docker_swarmkit_v1_HeartbeatRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_HeartbeatResponse__Output>): grpc.ClientUnaryCall;
  
  Session(argument: _docker_swarmkit_v1_SessionRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SessionMessage__Output>;
  Session(argument: _docker_swarmkit_v1_SessionRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SessionMessage__Output>;
  session(argument: _docker_swarmkit_v1_SessionRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SessionMessage__Output>;
  session(argument: _docker_swarmkit_v1_SessionRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_SessionMessage__Output>;
  
  Tasks(argument: _docker_swarmkit_v1_TasksRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_TasksMessage__Output>;
  Tasks(argument: _docker_swarmkit_v1_TasksRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_TasksMessage__Output>;
  tasks(argument: _docker_swarmkit_v1_TasksRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_TasksMessage__Output>;
  tasks(argument: _docker_swarmkit_v1_TasksRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_docker_swarmkit_v1_TasksMessage__Output>;
  
  UpdateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  updateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  updateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  updateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  updateTaskStatus(argument: _docker_swarmkit_v1_UpdateTaskStatusRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateTaskStatusResponse__Output>): grpc.ClientUnaryCall;
  
  UpdateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  UpdateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  updateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  updateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  updateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  updateVolumeStatus(argument: _docker_swarmkit_v1_UpdateVolumeStatusRequest, callback: grpc.requestCallback<_docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface DispatcherHandlers extends grpc.UntypedServiceImplementation {
  Assignments: grpc.handleServerStreamingCall<_docker_swarmkit_v1_AssignmentsRequest__Output, _docker_swarmkit_v1_AssignmentsMessage>;
  
  Heartbeat: grpc.handleUnaryCall<_docker_swarmkit_v1_HeartbeatRequest__Output, _docker_swarmkit_v1_HeartbeatResponse>;
  
  Session: grpc.handleServerStreamingCall<_docker_swarmkit_v1_SessionRequest__Output, _docker_swarmkit_v1_SessionMessage>;
  
  Tasks: grpc.handleServerStreamingCall<_docker_swarmkit_v1_TasksRequest__Output, _docker_swarmkit_v1_TasksMessage>;
  
  UpdateTaskStatus: grpc.handleUnaryCall<_docker_swarmkit_v1_UpdateTaskStatusRequest__Output, _docker_swarmkit_v1_UpdateTaskStatusResponse>;
  
  UpdateVolumeStatus: grpc.handleUnaryCall<_docker_swarmkit_v1_UpdateVolumeStatusRequest__Output, _docker_swarmkit_v1_UpdateVolumeStatusResponse>;
  
}

export interface DispatcherDefinition extends grpc.ServiceDefinition {
  Assignments: MethodDefinition<_docker_swarmkit_v1_AssignmentsRequest, _docker_swarmkit_v1_AssignmentsMessage, _docker_swarmkit_v1_AssignmentsRequest__Output, _docker_swarmkit_v1_AssignmentsMessage__Output>
  Heartbeat: MethodDefinition<_docker_swarmkit_v1_HeartbeatRequest, _docker_swarmkit_v1_HeartbeatResponse, _docker_swarmkit_v1_HeartbeatRequest__Output, _docker_swarmkit_v1_HeartbeatResponse__Output>
  Session: MethodDefinition<_docker_swarmkit_v1_SessionRequest, _docker_swarmkit_v1_SessionMessage, _docker_swarmkit_v1_SessionRequest__Output, _docker_swarmkit_v1_SessionMessage__Output>
  Tasks: MethodDefinition<_docker_swarmkit_v1_TasksRequest, _docker_swarmkit_v1_TasksMessage, _docker_swarmkit_v1_TasksRequest__Output, _docker_swarmkit_v1_TasksMessage__Output>
  UpdateTaskStatus: MethodDefinition<_docker_swarmkit_v1_UpdateTaskStatusRequest, _docker_swarmkit_v1_UpdateTaskStatusResponse, _docker_swarmkit_v1_UpdateTaskStatusRequest__Output, _docker_swarmkit_v1_UpdateTaskStatusResponse__Output>
  UpdateVolumeStatus: MethodDefinition<_docker_swarmkit_v1_UpdateVolumeStatusRequest, _docker_swarmkit_v1_UpdateVolumeStatusResponse, _docker_swarmkit_v1_UpdateVolumeStatusRequest__Output, _docker_swarmkit_v1_UpdateVolumeStatusResponse__Output>
}
