// Original file: agent/proto/objects.proto

import type { Meta as _docker_swarmkit_v1_Meta, Meta__Output as _docker_swarmkit_v1_Meta__Output } from '../../../docker/swarmkit/v1/Meta';
import type { TaskSpec as _docker_swarmkit_v1_TaskSpec, TaskSpec__Output as _docker_swarmkit_v1_TaskSpec__Output } from '../../../docker/swarmkit/v1/TaskSpec';
import type { Annotations as _docker_swarmkit_v1_Annotations, Annotations__Output as _docker_swarmkit_v1_Annotations__Output } from '../../../docker/swarmkit/v1/Annotations';
import type { TaskStatus as _docker_swarmkit_v1_TaskStatus, TaskStatus__Output as _docker_swarmkit_v1_TaskStatus__Output } from '../../../docker/swarmkit/v1/TaskStatus';
import type { TaskState as _docker_swarmkit_v1_TaskState, TaskState__Output as _docker_swarmkit_v1_TaskState__Output } from '../../../docker/swarmkit/v1/TaskState';
import type { NetworkAttachment as _docker_swarmkit_v1_NetworkAttachment, NetworkAttachment__Output as _docker_swarmkit_v1_NetworkAttachment__Output } from '../../../docker/swarmkit/v1/NetworkAttachment';
import type { Endpoint as _docker_swarmkit_v1_Endpoint, Endpoint__Output as _docker_swarmkit_v1_Endpoint__Output } from '../../../docker/swarmkit/v1/Endpoint';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { Version as _docker_swarmkit_v1_Version, Version__Output as _docker_swarmkit_v1_Version__Output } from '../../../docker/swarmkit/v1/Version';
import type { GenericResource as _docker_swarmkit_v1_GenericResource, GenericResource__Output as _docker_swarmkit_v1_GenericResource__Output } from '../../../docker/swarmkit/v1/GenericResource';
import type { VolumeAttachment as _docker_swarmkit_v1_VolumeAttachment, VolumeAttachment__Output as _docker_swarmkit_v1_VolumeAttachment__Output } from '../../../docker/swarmkit/v1/VolumeAttachment';
import type { Long } from '@grpc/proto-loader';

export interface Task {
  'id'?: (string);
  'meta'?: (_docker_swarmkit_v1_Meta | null);
  'spec'?: (_docker_swarmkit_v1_TaskSpec | null);
  'service_id'?: (string);
  'slot'?: (number | string | Long);
  'node_id'?: (string);
  'annotations'?: (_docker_swarmkit_v1_Annotations | null);
  'service_annotations'?: (_docker_swarmkit_v1_Annotations | null);
  'status'?: (_docker_swarmkit_v1_TaskStatus | null);
  'desired_state'?: (_docker_swarmkit_v1_TaskState);
  'networks'?: (_docker_swarmkit_v1_NetworkAttachment)[];
  'endpoint'?: (_docker_swarmkit_v1_Endpoint | null);
  'log_driver'?: (_docker_swarmkit_v1_Driver | null);
  'spec_version'?: (_docker_swarmkit_v1_Version | null);
  'assigned_generic_resources'?: (_docker_swarmkit_v1_GenericResource)[];
  'job_iteration'?: (_docker_swarmkit_v1_Version | null);
  'volumes'?: (_docker_swarmkit_v1_VolumeAttachment)[];
}

export interface Task__Output {
  'id': (string);
  'meta': (_docker_swarmkit_v1_Meta__Output | null);
  'spec': (_docker_swarmkit_v1_TaskSpec__Output | null);
  'service_id': (string);
  'slot': (string);
  'node_id': (string);
  'annotations': (_docker_swarmkit_v1_Annotations__Output | null);
  'service_annotations': (_docker_swarmkit_v1_Annotations__Output | null);
  'status': (_docker_swarmkit_v1_TaskStatus__Output | null);
  'desired_state': (_docker_swarmkit_v1_TaskState__Output);
  'networks': (_docker_swarmkit_v1_NetworkAttachment__Output)[];
  'endpoint': (_docker_swarmkit_v1_Endpoint__Output | null);
  'log_driver': (_docker_swarmkit_v1_Driver__Output | null);
  'spec_version': (_docker_swarmkit_v1_Version__Output | null);
  'assigned_generic_resources': (_docker_swarmkit_v1_GenericResource__Output)[];
  'job_iteration': (_docker_swarmkit_v1_Version__Output | null);
  'volumes': (_docker_swarmkit_v1_VolumeAttachment__Output)[];
}
