// Egress for overlay tasks: berth's own docker_gwbridge. Overlay endpoints never provide a
// gateway (libnetwork's overlay Join sets none), so a sandbox that needs one gets a veth from a
// bridge in the host namespace, an address from the bridge's subnet and its default route via
// the bridge's address; the host masquerades the subnet (netd/nat). ICC is off as Docker has it
// (`enable_icc=false`): here every port is a bridge-isolated port, so sandboxes on the bridge
// reach the host but never each other, with or without br_netfilter; netd/nat also drops
// bridge-to-bridge forwarding for when br_netfilter hands bridged frames to the IP hooks.
//
// Everything is check-then-repair over rtnetlink like sandboxes.ts: a join after an agentd
// restart finds the veth and keeps it (same ifindex, same address, flows survive).
//
// Addresses: the preference is a hash of the key, probing past addresses that other keys joined
// through this object hold. After a restart, a key keeps the address its sandbox already has;
// a new key joined before an older one is re-joined could in principle pick the older one's
// address (only on a hash collision in the subnet; the reconciler re-joins every live key first).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { rt } from 'netlink';
import { nla, parseAttrs } from '../netlink.js';
import { NetdError, NetdValidationError, NetlinkOperationError } from '../errors.js';
import { broadcastOf, containerMac, contains, formatIpv4, ipv4Bytes, ipv4FromBytes, macBytes, parseCidr, type Cidr } from '../ipv4.js';
import { netnsIdentity } from '../netns.js';
import { GONE, addresses, deleteLink, hasDefaultRoute, setUp } from './kernel.js';
import { AF_BRIDGE, AF_INET, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RT_TABLE_MAIN, Rtnl, bridgeLinkInfo, linkView, vethLinkInfo, type LinkView } from './rtnl.js';

export const DEFAULT_GATEWAY_BRIDGE = 'berth_gwbridge';
export const DEFAULT_GATEWAY_SUBNET = '172.31.0.0/16';
const DEFAULT_MTU = 1500;
const SELF_NETNS = '/proc/self/ns/net';
/** Host side of a gateway veth: "bg" + 11 hex digits of a hash of the key (13 of 15 bytes). */
const VETH_PREFIX = 'bg';
const VETH_HASH_CHARS = 11;
const VETH_NAME_PATTERN = /^bg[0-9a-f]{11}$/;
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;
/** The subnet needs the network, the bridge's address, one sandbox and the broadcast. */
const MAX_PREFIX_LEN = 30;
const MIN_MTU = 576;
const MAX_MTU = 65_535;
const SYSCTL_TIMEOUT_MS = 10_000;

// Attributes the package leaves raw: a bridge port's flags (linux/if_link.h).
const RTM_SETLINK = 19;
const IFLA_PROTINFO = 12;
const NLA_F_NESTED = 0x8000;
const IFLA_INFO_SLAVE_DATA = 5;
const IFLA_BRPORT_ISOLATED = 33;

export interface GatewayBridgeOptions {
  /** Default berth_gwbridge (Docker's is docker_gwbridge; the two coexist). */
  bridgeName?: string;
  /** Default 172.31.0.0/16; the bridge takes the first address. */
  subnet?: string;
  /** The host namespace for sysctls; default the namespace `host` was opened in. */
  hostNetns?: string;
  /** MTU of the bridge and its veths; default 1500 like Docker's gwbridge. */
  mtu?: number;
}

export interface GatewayJoin {
  /** The sandbox's address on the bridge, CIDR (e.g. 172.31.12.7/16). */
  address: string;
  /** The bridge's address: the sandbox's default gateway. */
  gateway: string;
  /** Something of an existing join had to be put back (the link, its address, state or route). */
  repaired: boolean;
}

function vethHash(key: string): string {
  return createHash('sha256').update(`gateway\0${key}`).digest('hex').slice(0, VETH_HASH_CHARS);
}

/** The bridge side of a key's gateway veth; stable across restarts so stray() can find it. */
export function gatewayVethName(key: string): string {
  return `${VETH_PREFIX}${vethHash(key)}`;
}

export function isGatewayVethName(name: string): boolean {
  return VETH_NAME_PATTERN.test(name);
}

/** Addresses a sandbox may take: past the network and the bridge's address, before the broadcast. */
function firstHost(c: Cidr): number {
  return c.network + 2;
}

function hostCount(c: Cidr): number {
  return broadcastOf(c) - firstHost(c);
}

export function usableAddress(c: Cidr, address: number): boolean {
  return contains(c, address) && address >= firstHost(c) && address < broadcastOf(c);
}

/** The key's preferred address, then the next ones (wrapping) until one is not taken. */
export function pickAddress(c: Cidr, key: string, taken: ReadonlySet<number>): number | undefined {
  const count = hostCount(c);
  const start = createHash('sha256').update(key).digest().readUInt32BE(0) % count;
  for (let i = 0; i < count; i++) {
    const candidate = firstHost(c) + ((start + i) % count);
    if (!taken.has(candidate)) return candidate;
  }
  return undefined;
}



/** The host side of a veth as the kernel reports it, with what LinkView leaves out. */
interface PortView {
  link: LinkView;
  /** The veth peer's ifindex (in the sandbox). */
  peerIndex: number | undefined;
  isolated: boolean;
}

function checkOptions(o: GatewayBridgeOptions): void {
  if (o.bridgeName !== undefined && !IFNAME_PATTERN.test(o.bridgeName)) {
    throw new NetdValidationError('E_INVALID_OPTION', `bridgeName ${JSON.stringify(o.bridgeName)} must be 1..15 letters, digits, "_", "." or "-"`);
  }
  if (o.mtu !== undefined && !(Number.isInteger(o.mtu) && o.mtu >= MIN_MTU && o.mtu <= MAX_MTU)) {
    throw new NetdValidationError('E_INVALID_OPTION', `gateway bridge mtu ${String(o.mtu)} must be an integer in ${MIN_MTU}..${MAX_MTU}`);
  }
}

/** Writes sysctls (path components under /proc/sys) in the namespace, by a child when it is not ours. */
function writeSysctls(netnsPath: string, entries: ReadonlyArray<{ path: readonly string[]; value: string }>): Promise<void> {
  const files = entries.map((e) => ({ file: joinPath('/proc/sys', ...e.path), value: e.value }));
  const self = netnsIdentity(SELF_NETNS);
  if (netnsPath === SELF_NETNS || (self !== undefined && netnsIdentity(netnsPath) === self)) {
    try {
      for (const f of files) writeFileSync(f.file, f.value);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new NetdError('E_UNDERLAY', `cannot write ${files.map((f) => f.file).join(', ')}: ${(err as Error).message}`, { cause: err }));
    }
  }
  // /proc/sys/net shows the namespace of the process that opens it: write from a child inside.
  const script = 'while [ $# -gt 0 ]; do printf %s "$2" > "$1" || exit 1; shift 2; done';
  const args = [`--net=${netnsPath}`, 'sh', '-c', script, 'sh', ...files.flatMap((f) => [f.file, f.value])];
  return new Promise((resolve, reject) => {
    execFile('nsenter', args, { timeout: SYSCTL_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new NetdError('E_UNDERLAY', `cannot write ${files.map((f) => f.file).join(', ')} in ${netnsPath}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

export class GatewayBridge {
  readonly bridgeName: string;
  /** The subnet in network form, e.g. 172.31.0.0/16. */
  readonly subnet: string;
  /** The bridge's address (no prefix length): every sandbox's default gateway. */
  readonly gateway: string;
  private readonly cidr: Cidr;
  private readonly gatewayAddress: number;
  private readonly hostNetns: string;
  private readonly mtu: number;
  /** Key → address (number) of every key joined through this object. */
  private readonly joined = new Map<string, number>();
  private bridgeIndex: number | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: Rtnl,
    opts: GatewayBridgeOptions = {},
  ) {
    checkOptions(opts);
    this.bridgeName = opts.bridgeName ?? DEFAULT_GATEWAY_BRIDGE;
    this.cidr = parseCidr(opts.subnet ?? DEFAULT_GATEWAY_SUBNET, 'gateway subnet');
    if (this.cidr.prefixLen > MAX_PREFIX_LEN) {
      throw new NetdValidationError('E_INVALID_CIDR', `gateway subnet ${opts.subnet ?? ''} is too small: at most /${MAX_PREFIX_LEN}`);
    }
    this.subnet = `${formatIpv4(this.cidr.network)}/${this.cidr.prefixLen}`;
    this.gatewayAddress = this.cidr.network + 1;
    this.gateway = formatIpv4(this.gatewayAddress);
    this.hostNetns = opts.hostNetns ?? host.netnsPath;
    this.mtu = opts.mtu ?? DEFAULT_MTU;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The bridge exists, is up, holds the subnet's first address; route_localnet and forwarding are on. */
  ensure(): Promise<void> {
    return this.locked(async () => {
      await this.ensureBridge();
    });
  }

  private async ensureBridge(): Promise<number> {
    const { host, bridgeName: name, mtu } = this;
    let br = await host.linkByName(name);
    if (br && br.kind !== 'bridge') {
      throw new NetdError('E_UNDERLAY', `${host.netnsPath} has a link named ${name} that is not a bridge (${br.kind ?? 'unknown kind'}); remove it or configure another gateway bridge name`);
    }
    if (!br) {
      await host.call(
        `create gateway bridge ${name}`,
        (o) => host.rt.newLink({ flags: { up: true }, change: { up: true } }, { ifname: name, mtu, linkinfo: bridgeLinkInfo() }, o),
        NLM_F_CREATE | NLM_F_EXCL,
      );
      br = await host.linkByName(name);
      if (!br) throw new NetdError('E_NETLINK', `gateway bridge ${name} vanished right after creation in ${host.netnsPath}`);
    } else if (!br.up) {
      await setUp(host, br.index, name);
    }
    const index = br.index;
    const present = (await addresses(host)).some((a) => a.index === index && a.local === this.gatewayAddress && a.prefixLen === this.cidr.prefixLen);
    if (!present) {
      await host.call(
        `add ${this.gateway}/${this.cidr.prefixLen} to ${name}`,
        (o) => host.rt.newAddress({ family: AF_INET, prefixlen: this.cidr.prefixLen, index }, { local: ipv4Bytes(this.gatewayAddress), address: ipv4Bytes(this.gatewayAddress) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
    }
    // route_localnet: 127.0.0.1 → published port is DNAT-ed out of this bridge (netd/nat);
    // ip_forward: egress and published ports are routed, as Docker's daemon turns it on.
    await writeSysctls(this.hostNetns, [
      { path: ['net', 'ipv4', 'conf', name, 'route_localnet'], value: '1' },
      { path: ['net', 'ipv4', 'ip_forward'], value: '1' },
    ]);
    this.bridgeIndex = index;
    return index;
  }

  /** The bridge's index, re-running ensure when it is unknown, gone or down. */
  private async bridge(): Promise<number> {
    if (this.bridgeIndex !== undefined) {
      const br = await this.host.linkByName(this.bridgeName);
      if (br?.kind === 'bridge' && br.up && br.index === this.bridgeIndex) return br.index;
    }
    return this.ensureBridge();
  }

  private async port(name: string): Promise<PortView | undefined> {
    const { host } = this;
    let m: rt.LinkMessage | undefined;
    try {
      [m] = await host.call(`get link ${name}`, (o) => host.rt.getLink({}, { ifname: name }, o));
    } catch (err) {
      if (err instanceof NetlinkOperationError && err.errnoName === 'ENODEV') return undefined;
      throw err;
    }
    if (!m) return undefined;
    const info = m.attrs.linkinfo ? parseAttrs(m.attrs.linkinfo) : undefined;
    const slave = info?.get(IFLA_INFO_SLAVE_DATA);
    const isolated = slave ? parseAttrs(slave).get(IFLA_BRPORT_ISOLATED)?.[0] === 1 : false;
    const link = linkView(m);
    const peerIndex = m.attrs.link && m.attrs.link.length >= 4 ? m.attrs.link.readUInt32LE(0) : undefined;
    return { link, peerIndex, isolated };
  }

  private async isolate(index: number, name: string): Promise<void> {
    const payload = Buffer.concat([rt.formatLink({ family: AF_BRIDGE, index }), nla(IFLA_PROTINFO | NLA_F_NESTED, nla(IFLA_BRPORT_ISOLATED, Buffer.from([1])))]);
    const [err] = await this.host.batch([{ type: RTM_SETLINK, flags: 0, payload }]);
    if (err) throw new NetlinkOperationError(`isolate bridge port ${name} in ${this.host.netnsPath}`, `errno ${err.errno}`, err.message);
  }

  private takenBy(other: string): Set<number> {
    const taken = new Set<number>([this.gatewayAddress]);
    for (const [k, a] of this.joined) if (k !== other) taken.add(a);
    return taken;
  }

  /**
   * Gives the sandbox at `netnsPath` a link `ifname` on the bridge, an address and its default
   * route via the bridge (any other default route is replaced). Idempotent: a healthy link is
   * kept with the address it has.
   */
  async join(key: string, netnsPath: string, ifname: string): Promise<GatewayJoin> {
    if (typeof key !== 'string' || key === '') throw new NetdValidationError('E_INVALID_ATTACHMENT', `gateway key ${JSON.stringify(key)} must be a non-empty string`);
    if (!IFNAME_PATTERN.test(ifname)) throw new NetdValidationError('E_INVALID_ATTACHMENT', `interface name ${JSON.stringify(ifname)} must be 1..15 letters, digits, "_", "." or "-"`);
    return this.locked(async () => {
      if (!existsSync(netnsPath)) throw new NetdError('E_SANDBOX_CONFLICT', `gateway for ${key}: sandbox namespace ${netnsPath} does not exist`);
      const bridgeIndex = await this.bridge();
      const hostName = gatewayVethName(key);
      const sb = Rtnl.open(netnsPath);
      try {
        const port = await this.port(hostName);
        let inner = await sb.linkByName(ifname);
        const healthy = port !== undefined && port.link.kind === 'veth' && port.link.master === bridgeIndex && inner?.kind === 'veth' && port.peerIndex === inner.index;
        const taken = this.takenBy(key);
        // The sandbox's address survives even a link that must be re-made (say, the bridge was).
        const inSubnet = inner ? (await addresses(sb)).filter((a) => a.index === inner!.index && usableAddress(this.cidr, a.local)) : [];
        const kept = inSubnet.find((a) => !taken.has(a.local))?.local;
        const remembered = this.joined.get(key);
        const address = kept ?? (remembered !== undefined && !taken.has(remembered) ? remembered : pickAddress(this.cidr, key, taken));
        if (address === undefined) throw new NetdError('E_ADDRESS_IN_USE', `gateway subnet ${this.subnet} has no free address left for ${key}`);
        let repaired = !healthy && (port !== undefined || inner !== undefined || remembered !== undefined);
        if (!healthy) {
          if (port) await deleteLink(this.host, port.link.index, hostName);
          if (inner) await deleteLink(sb, inner.index, ifname);
          await this.createVeth(key, hostName, netnsPath, ifname, bridgeIndex, address);
          inner = await sb.linkByName(ifname);
          if (!inner) throw new NetdError('E_NETLINK', `${ifname} is missing in ${netnsPath} right after creation`);
        }
        const hostPort = healthy ? port : await this.port(hostName);
        if (!hostPort) throw new NetdError('E_NETLINK', `${hostName} is missing in ${this.host.netnsPath} right after creation`);
        if (!hostPort.link.up) {
          await setUp(this.host, hostPort.link.index, hostName);
          repaired ||= healthy;
        }
        if (!hostPort.isolated) {
          await this.isolate(hostPort.link.index, hostName);
          repaired ||= healthy;
        }
        const changedInside = await this.configureInside(sb, inner!, ifname, address, healthy ? inSubnet.map((a) => a.local) : []);
        repaired ||= healthy && changedInside;
        this.joined.set(key, address);
        return { address: `${formatIpv4(address)}/${this.cidr.prefixLen}`, gateway: this.gateway, repaired };
      } finally {
        await sb.close();
      }
    });
  }

  private async createVeth(key: string, hostName: string, netnsPath: string, ifname: string, bridgeIndex: number, address: number): Promise<void> {
    const { host, mtu } = this;
    const sbFd = openSync(netnsPath, 'r');
    try {
      // One request: the bridge side enslaved and up here, the sandbox side born in the sandbox
      // under its final name and MAC.
      await host.call(
        `create gateway veth ${hostName} <-> ${ifname} for ${key}`,
        (o) =>
          host.rt.newLink(
            { flags: { up: true }, change: { up: true } },
            { ifname: hostName, mtu, master: bridgeIndex, linkinfo: vethLinkInfo({ ifname, mtu, address: macBytes(containerMac(address)), netNsFd: sbFd }) },
            o,
          ),
        NLM_F_CREATE | NLM_F_EXCL,
      );
    } finally {
      closeSync(sbFd);
    }
  }

  /** Exactly one subnet address on the link, the link up, the default route via the bridge.
   *  Returns whether anything had to change. */
  private async configureInside(sb: Rtnl, link: LinkView, ifname: string, address: number, present: readonly number[]): Promise<boolean> {
    const prefixLen = this.cidr.prefixLen;
    let changed = false;
    for (const other of present.filter((a) => a !== address)) {
      changed = true;
      await sb.tolerate(
        `delete ${formatIpv4(other)}/${prefixLen} from ${ifname}`,
        (o) => sb.rt.delAddress({ family: AF_INET, prefixlen: prefixLen, index: link.index }, { local: ipv4Bytes(other), address: ipv4Bytes(other) }, o),
        GONE,
      );
    }
    if (!present.includes(address)) {
      changed = true;
      await sb.call(
        `add ${formatIpv4(address)}/${prefixLen} to ${ifname}`,
        (o) => sb.rt.newAddress({ family: AF_INET, prefixlen: prefixLen, index: link.index }, { local: ipv4Bytes(address), address: ipv4Bytes(address) }, o),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
    }
    if (!link.up) {
      changed = true;
      await setUp(sb, link.index, ifname);
    }
    // After the up: a link that was down had lost its routes.
    if (!(await hasDefaultRoute(sb, link.index, this.gatewayAddress))) {
      changed = true;
      await sb.call(
        `default route via ${this.gateway} dev ${ifname}`,
        (o) =>
          sb.rt.newRoute(
            { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
            { gateway: ipv4Bytes(this.gatewayAddress), oif: link.index },
            o,
          ),
        NLM_F_CREATE | NLM_F_REPLACE,
      );
    }
    const routes = await sb.call('dump routes', (o) => sb.rt.getRoutes({ family: AF_INET }, undefined, o));
    for (const r of routes) {
      const table = r.attrs.table ?? r.data.table;
      if (r.data.dstLen !== 0 || table !== RT_TABLE_MAIN || r.data.type !== 'UNICAST') continue;
      const ours = r.attrs.oif === link.index && r.attrs.gateway !== undefined && ipv4FromBytes(r.attrs.gateway) === this.gateway;
      if (ours) continue;
      changed = true;
      await sb.tolerate(
        `delete another default route in ${sb.netnsPath}`,
        (o) =>
          sb.rt.delRoute(
            { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, tos: r.data.tos ?? 0 },
            { ...(r.attrs.priority !== undefined ? { priority: r.attrs.priority } : {}), ...(r.attrs.oif !== undefined ? { oif: r.attrs.oif } : {}), ...(r.attrs.gateway ? { gateway: r.attrs.gateway } : {}) },
            o,
          ),
        [...GONE, 'ESRCH'],
      );
    }
    return changed;
  }

  /** Deletes the key's veth (both ends). */
  leave(key: string): Promise<void> {
    return this.locked(async () => {
      this.joined.delete(key);
      const name = gatewayVethName(key);
      const link = await this.host.linkByName(name);
      if (link) await deleteLink(this.host, link.index, name);
    });
  }

  /** Deletes berth's gateway veths on the bridge whose key is not wanted; returns how many. */
  stray(wanted: ReadonlySet<string>): Promise<number> {
    return this.locked(async () => {
      for (const k of [...this.joined.keys()]) if (!wanted.has(k)) this.joined.delete(k);
      const names = new Set([...wanted].map(gatewayVethName));
      const br = await this.host.linkByName(this.bridgeName);
      let removed = 0;
      for (const l of await this.host.links()) {
        if (!isGatewayVethName(l.name) || names.has(l.name) || l.kind !== 'veth') continue;
        if (l.master !== undefined && l.master !== br?.index) continue;
        await deleteLink(this.host, l.index, l.name);
        removed++;
      }
      return removed;
    });
  }

  /** Deletes every gateway veth on the bridge and the bridge itself. */
  remove(): Promise<void> {
    return this.locked(async () => {
      this.joined.clear();
      this.bridgeIndex = undefined;
      const br = await this.host.linkByName(this.bridgeName);
      for (const l of await this.host.links()) {
        if (isGatewayVethName(l.name) && l.kind === 'veth' && (l.master === undefined || l.master === br?.index)) await deleteLink(this.host, l.index, l.name);
      }
      if (br?.kind === 'bridge') await deleteLink(this.host, br.index, this.bridgeName);
    });
  }

  /** The key's address (CIDR, as join returned it) when it joined through this object. */
  addressOf(key: string): string | undefined {
    const a = this.joined.get(key);
    return a === undefined ? undefined : `${formatIpv4(a)}/${this.cidr.prefixLen}`;
  }
}
