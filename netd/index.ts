// netd: the node's whole network side. The agent reaches it through NetworkController (the
// executor's SandboxNetworking, network bootstrap keys, restore and reconcile); the overlay
// plane, the gossip and the DNS are the controller's to use.
export { NetworkController, type NetworkControllerOptions, type NetworkStatus, type NodeNetworkAttachment, type SandboxNetworking } from './controller/network-controller.js';
export { overlayAttachments, type TaskNetwork, type TaskNetworkAttachment, type TaskNetworks, type TaskPort } from './controller/task-networks.js';
export type { GossipStats, NetworkKey } from './gossip/index.js';
export { NetdError, NetdValidationError, NetworkNotFoundError, ReconcileError, type NetdErrorCode } from './errors.js';
export type { ReconcileReport } from './types.js';
export type { ReconcileRun, ReconcileTotals } from './controller/reconciler.js';
export type { NetworkPeers, VipView } from './controller/network-controller.js';
export { probeVipSupport, type VipSupport } from './vip/index.js';
export { vipSyncEvents, type VipSyncEvent } from './events.js';
