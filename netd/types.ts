// The shapes netd's overlay data plane takes from its callers. Addresses are IPv4 text.

export type NetworkId = string;
export type TaskId = string;

/** One Swarm overlay network as the manager describes it (driver state + IPAM). */
export interface OverlayNetworkSpec {
  id: NetworkId;
  name?: string;
  /** VXLAN network identifier from the driver's vxlanid_list. */
  vni: number;
  /** The network's IPAM subnet, e.g. 10.0.1.0/24. */
  subnet: string;
  /** The IPAM gateway; lives on the network's bridge. */
  gateway: string;
}

/** A task's membership in one network. */
export interface NetworkAttachment {
  networkId: NetworkId;
  /**
   * SwarmKit's attachments carry the network itself; when present it defines the network on
   * this node. When absent, the network must be created (or appear) within the wait.
   */
  network?: OverlayNetworkSpec;
  /** The task's address(es) on that network: 10.0.1.5/24 (or 10.0.1.5; the subnet's length is used). */
  addresses: readonly string[];
  /** Route everything not on a connected subnet to this network's gateway. */
  defaultGateway?: boolean;
}

/** A task's endpoint as the cluster tables (gossip) publish it. */
export interface Endpoint {
  network: NetworkId;
  /** The task's address on the overlay (no prefix length). */
  ip: string;
  /** Defaults to Docker's 02:42:<ip bytes>. */
  mac?: string;
  /** Underlay address of the node the task runs on. */
  vtep: string;
  /** Optional identity for logs (task or endpoint id). */
  id?: string;
}

export type EndpointEvent = 'endpoint-added' | 'endpoint-removed';

/** Filled by gossip and by local tasks; netd reads it. */
export interface ClusterTables {
  on(event: EndpointEvent, fn: (e: Endpoint) => void): void;
  off?(event: EndpointEvent, fn: (e: Endpoint) => void): void;
  endpoints(network: NetworkId): Iterable<Endpoint>;
}

export interface OverlayOptions {
  /** This node's underlay address (the advertise address); endpoints whose VTEP is this are local. */
  advertiseAddress: string;
  /** Namespace that owns the underlay and the VXLAN UDP sockets; default our own. */
  hostNetns?: string;
  /** Where per-network namespaces are pinned; default /run/berth/netns. */
  netnsDir?: string;
  /** Prefix of every namespace file berth owns in netnsDir; default "berth-". */
  namePrefix?: string;
  /** VXLAN UDP destination port (the cluster's data-path port); default 4789. */
  vxlanPort?: number;
  /** Overlay MTU; default the advertise interface's MTU minus the VXLAN overhead. */
  mtu?: number;
  /** How long attachSandbox waits for a network it does not know yet; default 5000 ms. */
  networkWaitMs?: number;
  /** The gateway bridge giving sandboxes egress (Docker's docker_gwbridge); false = none. */
  gateway?: { bridgeName?: string; subnet?: string } | false;
}

/** What attachSandbox did for one attachment. */
export interface SandboxInterface {
  networkId: NetworkId;
  /** Interface name inside the sandbox: eth0, eth1, … in attachment order. */
  ifname: string;
  /** The veth end on the network's bridge. */
  hostIfname: string;
  mac: string;
  addresses: string[];
}

/** What one reconcile changed, per kind; all zero when the kernel already matched. */
export interface ReconcileReport {
  /** Overlay namespaces created (with their br0 and vxlan0). */
  networksCreated: number;
  /** Overlay namespaces berth owns but no longer wants, deleted. */
  networksRemoved: number;
  /** br0 or vxlan0 missing (or of the wrong kind) in an existing namespace, created again. */
  devicesCreated: number;
  /** Stray berth veths deleted from a network's bridge. */
  linksRemoved: number;
  /** Existing links set up again, put back on the bridge or given the overlay MTU. */
  linksRepaired: number;
  /** Sandboxes whose veth pair had to be created again. */
  sandboxesRepaired: number;
  /** Gateway (br0) or sandbox addresses put back. */
  addressesRestored: number;
  /** Sandbox default routes put back. */
  routesRestored: number;
  neighboursAdded: number;
  neighboursRemoved: number;
  fdbAdded: number;
  fdbRemoved: number;
}
