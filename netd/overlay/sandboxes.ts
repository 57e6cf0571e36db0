// Sandbox join and leave, as libnetwork's joinleave.go: per sandbox and network a veth from br0
// into the sandbox as ethN, with its addresses, MAC and default route.
import { existsSync, openSync, closeSync } from 'node:fs';
import { NetdError, NetdValidationError, NetworkNotFoundError } from '../errors.js';
import { containerMac, formatIpv4, ipv4Bytes, macBytes } from '../ipv4.js';
import type { NetworkAttachment, NetworkId, ReconcileReport, SandboxInterface, TaskId } from '../types.js';
import { emptyReport, type Member, type OverlayContext, type ProgrammedNetwork, type SandboxState } from './context.js';
import { LOOPBACK, addresses, deleteLink, hasDefaultRoute, setUp } from './kernel.js';
import { checkId, sandboxIfname, vethHostName } from './naming.js';
import type { Networks } from './networks.js';
import { AF_INET, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RT_TABLE_MAIN, Rtnl, vethLinkInfo, type LinkView } from './rtnl.js';
import { normalizeAddresses, type Address, type Network } from './validate.js';
import { netnsIdentity } from '../netns.js';

export class Sandboxes {
  constructor(
    private readonly ctx: OverlayContext,
    private readonly networks: Networks,
  ) {}

  /**
   * Plumbs the sandbox at `netnsPath` into each attachment's network as eth0, eth1, … in the
   * order given. Idempotent: links that are already right are kept as they are.
   */
  async attachSandbox(taskId: TaskId, netnsPath: string, attachments: readonly NetworkAttachment[]): Promise<SandboxInterface[]> {
    this.ctx.assertOpen();
    checkId('task id', taskId);
    if (attachments.length === 0) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: no network attachments`);
    const ids = attachments.map((a) => a.networkId);
    if (new Set(ids).size !== ids.length) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: a network is attached twice (${ids.join(', ')})`);
    for (const a of attachments) {
      if (a.network) {
        if (a.network.id !== a.networkId) throw new NetdValidationError('E_INVALID_ATTACHMENT', `task ${taskId}: attachment names network ${a.networkId} but carries ${a.network.id}`);
        this.networks.define(a.network);
      }
    }
    await Promise.all(ids.map((id) => this.networks.waitForNetwork(id)));
    return this.ctx.locked(async () => {
      const members = attachments.map((a, i): Member => {
        const net = this.ctx.networks.get(a.networkId)?.net;
        if (!net) throw new NetworkNotFoundError(a.networkId, this.ctx.networkWaitMs);
        const addresses = normalizeAddresses(a, net);
        this.checkAddressesFree(taskId, net.id, addresses);
        return { networkId: net.id, ifname: sandboxIfname(i), hostIfname: vethHostName(taskId, net.id), mac: containerMac(addresses[0]!.ip), addresses, defaultGateway: a.defaultGateway === true };
      });
      const previous = this.ctx.sandboxes.get(taskId);
      if (previous && (previous.netnsPath !== netnsPath || JSON.stringify(previous.members) !== JSON.stringify(members))) {
        throw new NetdValidationError('E_SANDBOX_CONFLICT', `task ${taskId} is already attached with a different sandbox or networks; detach it first`);
      }
      const sandbox: SandboxState = { taskId, netnsPath, netnsId: netnsIdentity(netnsPath), members };
      this.ctx.sandboxes.set(taskId, sandbox);
      for (const m of members) this.ctx.networks.get(m.networkId)!.sandboxes.add(taskId);
      try {
        await this.plumb(sandbox, emptyReport());
      } catch (err) {
        if (!previous) await this.unplumb(sandbox).catch(() => undefined);
        throw err;
      }
      return members.map((m) => ({ networkId: m.networkId, ifname: m.ifname, hostIfname: m.hostIfname, mac: m.mac, addresses: m.addresses.map((a) => `${formatIpv4(a.ip)}/${a.prefixLen}`) }));
    });
  }

  private checkAddressesFree(taskId: TaskId, networkId: NetworkId, addresses: Address[]): void {
    for (const s of this.ctx.sandboxes.values()) {
      if (s.taskId === taskId) continue;
      for (const m of s.members) {
        if (m.networkId !== networkId) continue;
        const clash = m.addresses.find((a) => addresses.some((b) => b.ip === a.ip));
        if (clash) throw new NetdValidationError('E_ADDRESS_IN_USE', `address ${formatIpv4(clash.ip)} on network ${networkId} is already used by task ${s.taskId}`);
      }
    }
  }

  async detachSandbox(taskId: TaskId): Promise<void> {
    await this.ctx.locked(async () => {
      const sandbox = this.ctx.sandboxes.get(taskId);
      if (sandbox) await this.unplumb(sandbox);
    });
  }

  private async unplumb(sandbox: SandboxState): Promise<void> {
    this.ctx.sandboxes.delete(sandbox.taskId);
    for (const m of sandbox.members) {
      const state = this.ctx.networks.get(m.networkId);
      if (!state) continue;
      state.sandboxes.delete(sandbox.taskId);
      const p = state.programmed;
      if (p) {
        const link = await p.rtnl.linkByName(m.hostIfname);
        if (link) await deleteLink(p.rtnl, link.index, m.hostIfname);
      }
      if (state.sandboxes.size === 0 && !state.pinned && !state.lb) await this.networks.retire(state);
    }
  }

  /** Makes every member of the sandbox right; returns true when something had to be rebuilt. */
  async plumb(sandbox: SandboxState, report: ReconcileReport): Promise<boolean> {
    if (!existsSync(sandbox.netnsPath)) {
      throw new NetdError('E_SANDBOX_CONFLICT', `task ${sandbox.taskId}: sandbox namespace ${sandbox.netnsPath} does not exist`);
    }
    const sb = Rtnl.open(sandbox.netnsPath);
    let repaired = false;
    try {
      const lo = await sb.linkByName(LOOPBACK);
      if (lo && !lo.up) {
        await setUp(sb, lo.index, LOOPBACK);
        report.linksRepaired++;
      }
      for (const m of sandbox.members) {
        const state = this.ctx.networks.get(m.networkId)!;
        const p = state.programmed ?? (await this.networks.program(state, report));
        const hostLink = await p.rtnl.linkByName(m.hostIfname);
        let inner = await sb.linkByName(m.ifname);
        const healthy = hostLink && inner && inner.kind === 'veth' && inner.mac === m.mac && hostLink.master === p.bridgeIndex;
        if (!healthy) {
          repaired = true;
          if (hostLink) await deleteLink(p.rtnl, hostLink.index, m.hostIfname);
          if (inner) await deleteLink(sb, inner.index, m.ifname);
          await this.createVeth(p, sandbox, m);
          inner = await sb.linkByName(m.ifname);
        } else if (!hostLink.up) {
          await setUp(p.rtnl, hostLink.index, m.hostIfname);
          report.linksRepaired++;
        }
        await this.configureInside(sb, inner, state.net, m, report, !healthy);
      }
    } finally {
      await sb.close();
    }
    if (repaired) report.sandboxesRepaired++;
    return repaired;
  }

  private async createVeth(p: ProgrammedNetwork, sandbox: SandboxState, m: Member): Promise<void> {
    const mtu = this.ctx.mtu;
    const sbFd = openSync(sandbox.netnsPath, 'r');
    try {
      // One request: the bridge side enslaved and up here, the sandbox side born in the sandbox
      // under its final name and MAC, so no half-made pair is ever visible.
      await p.rtnl.call(
        `create veth ${m.hostIfname} <-> ${m.ifname} for task ${sandbox.taskId}`,
        (o) =>
          p.rtnl.rt.newLink(
            { flags: { up: true }, change: { up: true } },
            { ifname: m.hostIfname, mtu, master: p.bridgeIndex, linkinfo: vethLinkInfo({ ifname: m.ifname, mtu, address: macBytes(m.mac), netNsFd: sbFd }) },
            o,
          ),
        NLM_F_CREATE | NLM_F_EXCL,
      );
    } finally {
      closeSync(sbFd);
    }
  }

  /** Addresses, link state and default route inside the sandbox; `fresh` = the veth was just made. */
  private async configureInside(sb: Rtnl, link: LinkView | undefined, net: Network, m: Member, report: ReconcileReport, fresh: boolean): Promise<void> {
    if (!link) throw new NetdError('E_NETLINK', `${m.ifname} is missing in ${sb.netnsPath} right after creation`);
    const drift = fresh ? 0 : 1;
    const present = await addresses(sb);
    for (const a of m.addresses) {
      if (present.some((x) => x.index === link.index && x.local === a.ip && x.prefixLen === a.prefixLen)) continue;
      await sb.call(
        `add ${formatIpv4(a.ip)}/${a.prefixLen} to ${m.ifname}`,
        (o) => sb.rt.newAddress({ family: AF_INET, prefixlen: a.prefixLen, index: link.index }, { local: ipv4Bytes(a.ip), address: ipv4Bytes(a.ip) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
      report.addressesRestored += drift;
    }
    if (!link.up) {
      await setUp(sb, link.index, m.ifname);
      report.linksRepaired += drift;
    }
    // A link that went down took its routes with it; the default route is checked after the up.
    if (m.defaultGateway && !(await hasDefaultRoute(sb, link.index, net.gateway))) {
      report.routesRestored += drift;
      await sb.call(
        `default route via ${formatIpv4(net.gateway)} dev ${m.ifname}`,
        (o) =>
          sb.rt.newRoute(
            { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
            { gateway: ipv4Bytes(net.gateway), oif: link.index },
            o,
          ),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
    }
  }
}
