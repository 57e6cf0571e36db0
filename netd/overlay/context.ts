// State shared by the parts of the overlay data plane (networks, sandboxes, peers, reconcile):
// the host namespace's Rtnl, the settings, the desired-state maps and the one lock every
// mutation runs under.
import { join } from 'node:path';
import { NetdError } from '../errors.js';
import type { NetworkId, OverlayOptions, ReconcileReport, TaskId } from '../types.js';
import type { KernelTables } from './endpoints.js';
import { overlayNetnsName } from './naming.js';
import type { Rtnl } from './rtnl.js';
import type { Address, Network } from './validate.js';

export interface ProgrammedNetwork {
  netnsPath: string;
  rtnl: Rtnl;
  bridgeIndex: number;
  vxlanIndex: number;
  /** What we last wrote to (or read from) vxlan0's tables. */
  tables: KernelTables;
  /** The EndpointTable version `tables` was last made equal to, every write of it done; unset
   *  while a diff is applied, after a failed one, and after a partial (add-only) program. */
  inSyncAt?: number;
}

/** This node's load balancer on a network (Docker's lb_<network> endpoint): its address (the
 *  SNAT source other nodes' backends reply to, Node.Attachments' LB address) and the VIPs it
 *  answers for, all /32 on br0, whose MAC is 02:42:<source>. */
export interface LoadBalancerAddresses {
  source: number;
  vips: number[];
}

export interface NetworkState {
  net: Network;
  pinned: boolean;
  /** Set while this node balances on the network; keeps the namespace like a pin. */
  lb?: LoadBalancerAddresses;
  /** setLoadBalancer was called in this process: until then br0's /32s are left as found (a
   *  restarted agentd must not drop the VIPs the kernel still serves before it knows them). */
  lbKnown?: boolean;
  sandboxes: Set<TaskId>;
  programmed?: ProgrammedNetwork;
}

export interface Member {
  networkId: NetworkId;
  ifname: string;
  hostIfname: string;
  mac: string;
  addresses: Address[];
  defaultGateway: boolean;
}

export interface SandboxState {
  taskId: TaskId;
  netnsPath: string;
  /** dev:inode of the namespace at attach time: a /proc/<pid>/ns/net path outlives its process,
   *  and the pid can be reused, so reconcile never plumbs into a namespace that merely has the path. */
  netnsId: string | undefined;
  members: Member[];
}

/** The options with their defaults applied. */
export interface OverlaySettings {
  mtu: number;
  vxlanPort: number;
  netnsDir: string;
  prefix: string;
  networkWaitMs: number;
}

export function emptyReport(): ReconcileReport {
  return {
    networksCreated: 0,
    networksRemoved: 0,
    devicesCreated: 0,
    linksRemoved: 0,
    linksRepaired: 0,
    sandboxesRepaired: 0,
    addressesRestored: 0,
    routesRestored: 0,
    neighboursAdded: 0,
    neighboursRemoved: 0,
    fdbAdded: 0,
    fdbRemoved: 0,
  };
}

export class OverlayContext {
  readonly mtu: number;
  readonly vxlanPort: number;
  readonly netnsDir: string;
  readonly prefix: string;
  readonly networkWaitMs: number;
  readonly networks = new Map<NetworkId, NetworkState>();
  readonly sandboxes = new Map<TaskId, SandboxState>();
  closed = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly options: OverlayOptions,
    readonly host: Rtnl,
    settings: OverlaySettings,
  ) {
    this.mtu = settings.mtu;
    this.vxlanPort = settings.vxlanPort;
    this.netnsDir = settings.netnsDir;
    this.prefix = settings.prefix;
    this.networkWaitMs = settings.networkWaitMs;
  }

  netnsPathOf(id: NetworkId): string {
    return join(this.netnsDir, overlayNetnsName(this.prefix, id));
  }

  membersOf(id: NetworkId): Member[] {
    return [...this.sandboxes.values()].flatMap((s) => s.members.filter((m) => m.networkId === id));
  }

  assertOpen(): void {
    if (this.closed) throw new NetdError('E_CLOSED', 'the overlay data plane is closed');
  }

  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}
