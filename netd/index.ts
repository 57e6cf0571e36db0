// netd: the host data plane. Today: VXLAN overlay networks programmed over rtnetlink.
export { OverlayDataPlane, DEFAULT_NAME_PREFIX, DEFAULT_NETNS_DIR, DEFAULT_VXLAN_PORT, VXLAN_OVERHEAD, emptyReport } from './overlay.js';
export { NetdError, NetdValidationError, NetlinkOperationError, NetworkNotFoundError, ReconcileError, type NetdErrorCode } from './errors.js';
export { Reconciler, fixedCounts, type Reconcilable, type ReconcilerOptions, type ReconcileRun, type ReconcileTrigger } from './controller/reconciler.js';
export type {
  ClusterTables,
  Endpoint,
  EndpointEvent,
  NetdLogFn,
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
