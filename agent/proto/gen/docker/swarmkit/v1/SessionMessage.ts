// Original file: agent/proto/dispatcher.proto

import type { Node as _docker_swarmkit_v1_Node, Node__Output as _docker_swarmkit_v1_Node__Output } from '../../../docker/swarmkit/v1/Node';
import type { WeightedPeer as _docker_swarmkit_v1_WeightedPeer, WeightedPeer__Output as _docker_swarmkit_v1_WeightedPeer__Output } from '../../../docker/swarmkit/v1/WeightedPeer';
import type { EncryptionKey as _docker_swarmkit_v1_EncryptionKey, EncryptionKey__Output as _docker_swarmkit_v1_EncryptionKey__Output } from '../../../docker/swarmkit/v1/EncryptionKey';

export interface SessionMessage {
  'session_id'?: (string);
  'node'?: (_docker_swarmkit_v1_Node | null);
  'managers'?: (_docker_swarmkit_v1_WeightedPeer)[];
  'network_bootstrap_keys'?: (_docker_swarmkit_v1_EncryptionKey)[];
  'RootCA'?: (Buffer | Uint8Array | string);
}

export interface SessionMessage__Output {
  'session_id': (string);
  'node': (_docker_swarmkit_v1_Node__Output | null);
  'managers': (_docker_swarmkit_v1_WeightedPeer__Output)[];
  'network_bootstrap_keys': (_docker_swarmkit_v1_EncryptionKey__Output)[];
  'RootCA': (Buffer);
}
