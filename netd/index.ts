// netd: the node's whole network side. The agent reaches it through NetworkController (the
// executor's SandboxNetworking, network bootstrap keys, restore and reconcile); the overlay
// plane, the gossip and the DNS are the controller's to use.
import type { NetworkController } from './controller/network-controller.js';
import type { VipSupport } from './vip/index.js';
export type { NetworkController, NetworkControllerOptions, NetworkStatus, NodeNetworkAttachment, SandboxNetworking } from './controller/network-controller.js';
export { overlayAttachments, type TaskNetwork, type TaskNetworkAttachment, type TaskNetworks, type TaskPort } from './controller/task-networks.js';
export type { GossipStats, NetworkKey } from './gossip/index.js';
export { NetdError, NetdValidationError, NetworkNotFoundError, ReconcileError, type NetdErrorCode } from './errors.js';
export type { ReconcileReport } from './types.js';
export type { ReconcileRun, ReconcileTotals } from './controller/reconciler.js';
export type { NetworkPeers, VipView } from './controller/network-controller.js';
export type { VipSupport } from './vip/index.js';
export { vipSyncEvents, type VipSyncEvent } from './events.js';

// What this index loads at once stays light (events, errors, pure task-network helpers): the
// controller and the VIP probe bring netlink, nftables and the gossip's codecs, which an agentd
// pays for only when its data plane opens (or the doctor runs), not on the way to Ready.

/** The controller's class, loaded on first use. */
export async function loadNetworkController(): Promise<typeof NetworkController> {
  return (await import('./controller/network-controller.js')).NetworkController;
}

/** Which VIP backends this kernel offers (IPVS, nftables), loaded on first use. */
export async function probeVipSupport(): Promise<VipSupport> {
  return (await import('./vip/index.js')).probeVipSupport();
}
