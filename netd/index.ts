// netd: the node's whole network side. The agent reaches it through NetworkController (the
// executor's SandboxNetworking, network bootstrap keys, restore and reconcile); the overlay
// plane, the gossip and the DNS are the controller's to use.
export {
  NetworkController,
  type ClusterPort,
  type ControllerParts,
  type NetworkControllerOptions,
  type NetworkStatus,
  type OverlayPlane,
  type SandboxDns,
  type SandboxNetworking,
} from './controller/network-controller.js';
export type { TaskNetwork, TaskNetworkAttachment, TaskNetworks } from './controller/task-networks.js';
export type { GossipStats, NetworkKey } from './gossip/index.js';
export { OverlayDataPlane, DEFAULT_NAME_PREFIX, DEFAULT_NETNS_DIR, DEFAULT_VXLAN_PORT, VXLAN_OVERHEAD, emptyReport } from './overlay/index.js';
export { NetdError, NetdValidationError, NetlinkOperationError, NetworkNotFoundError, ReconcileError, type NetdErrorCode } from './errors.js';
export { Reconciler, fixedCounts, type Reconcilable, type ReconcilerOptions, type ReconcileRun, type ReconcileTrigger } from './controller/reconciler.js';
export type {
  ClusterTables,
  Endpoint,
  EndpointEvent,
  NetworkAttachment,
  NetworkId,
  OverlayNetworkSpec,
  OverlayOptions,
  ReconcileReport,
  SandboxInterface,
  TaskId,
} from './types.js';
export { containerMacOf } from './ipv4.js';
export { overlayNetnsName } from './overlay/naming.js';
