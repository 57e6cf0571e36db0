// netd: the host data plane. Today: VXLAN overlay networks programmed over rtnetlink.
export { OverlayDataPlane, DEFAULT_NAME_PREFIX, DEFAULT_NETNS_DIR, DEFAULT_VXLAN_PORT, VXLAN_OVERHEAD } from './overlay.js';
export { NetdError, NetdValidationError, NetlinkOperationError, NetworkNotFoundError, type NetdErrorCode } from './errors.js';
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
export { overlayNetnsName } from './naming.js';
