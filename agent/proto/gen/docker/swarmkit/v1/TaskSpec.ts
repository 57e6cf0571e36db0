// Original file: agent/proto/specs.proto

import type { ContainerSpec as _docker_swarmkit_v1_ContainerSpec, ContainerSpec__Output as _docker_swarmkit_v1_ContainerSpec__Output } from '../../../docker/swarmkit/v1/ContainerSpec';
import type { ResourceRequirements as _docker_swarmkit_v1_ResourceRequirements, ResourceRequirements__Output as _docker_swarmkit_v1_ResourceRequirements__Output } from '../../../docker/swarmkit/v1/ResourceRequirements';
import type { RestartPolicy as _docker_swarmkit_v1_RestartPolicy, RestartPolicy__Output as _docker_swarmkit_v1_RestartPolicy__Output } from '../../../docker/swarmkit/v1/RestartPolicy';
import type { Placement as _docker_swarmkit_v1_Placement, Placement__Output as _docker_swarmkit_v1_Placement__Output } from '../../../docker/swarmkit/v1/Placement';
import type { Driver as _docker_swarmkit_v1_Driver, Driver__Output as _docker_swarmkit_v1_Driver__Output } from '../../../docker/swarmkit/v1/Driver';
import type { NetworkAttachmentConfig as _docker_swarmkit_v1_NetworkAttachmentConfig, NetworkAttachmentConfig__Output as _docker_swarmkit_v1_NetworkAttachmentConfig__Output } from '../../../docker/swarmkit/v1/NetworkAttachmentConfig';
import type { NetworkAttachmentSpec as _docker_swarmkit_v1_NetworkAttachmentSpec, NetworkAttachmentSpec__Output as _docker_swarmkit_v1_NetworkAttachmentSpec__Output } from '../../../docker/swarmkit/v1/NetworkAttachmentSpec';
import type { GenericRuntimeSpec as _docker_swarmkit_v1_GenericRuntimeSpec, GenericRuntimeSpec__Output as _docker_swarmkit_v1_GenericRuntimeSpec__Output } from '../../../docker/swarmkit/v1/GenericRuntimeSpec';
import type { ResourceReference as _docker_swarmkit_v1_ResourceReference, ResourceReference__Output as _docker_swarmkit_v1_ResourceReference__Output } from '../../../docker/swarmkit/v1/ResourceReference';
import type { Long } from '@grpc/proto-loader';

export interface TaskSpec {
  'container'?: (_docker_swarmkit_v1_ContainerSpec | null);
  'resources'?: (_docker_swarmkit_v1_ResourceRequirements | null);
  'restart'?: (_docker_swarmkit_v1_RestartPolicy | null);
  'placement'?: (_docker_swarmkit_v1_Placement | null);
  'log_driver'?: (_docker_swarmkit_v1_Driver | null);
  'networks'?: (_docker_swarmkit_v1_NetworkAttachmentConfig)[];
  'attachment'?: (_docker_swarmkit_v1_NetworkAttachmentSpec | null);
  'force_update'?: (number | string | Long);
  'generic'?: (_docker_swarmkit_v1_GenericRuntimeSpec | null);
  'resource_references'?: (_docker_swarmkit_v1_ResourceReference)[];
  'runtime'?: "attachment"|"container"|"generic";
}

export interface TaskSpec__Output {
  'container'?: (_docker_swarmkit_v1_ContainerSpec__Output | null);
  'resources': (_docker_swarmkit_v1_ResourceRequirements__Output | null);
  'restart': (_docker_swarmkit_v1_RestartPolicy__Output | null);
  'placement': (_docker_swarmkit_v1_Placement__Output | null);
  'log_driver': (_docker_swarmkit_v1_Driver__Output | null);
  'networks': (_docker_swarmkit_v1_NetworkAttachmentConfig__Output)[];
  'attachment'?: (_docker_swarmkit_v1_NetworkAttachmentSpec__Output | null);
  'force_update': (string);
  'generic'?: (_docker_swarmkit_v1_GenericRuntimeSpec__Output | null);
  'resource_references': (_docker_swarmkit_v1_ResourceReference__Output)[];
  'runtime'?: "attachment"|"container"|"generic";
}
