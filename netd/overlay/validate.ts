// Validation of networks, attachments and endpoints, once, at the edge. After these functions
// return, the rest of netd works with normalized values and never re-checks them.
import { NetdValidationError } from '../errors.js';
import {
  broadcastOf,
  contains,
  containerMac,
  formatCidr,
  formatIpv4,
  normalizeMac,
  overlaps,
  parseCidr,
  parseIpv4,
  type Cidr,
} from '../ipv4.js';
import { checkId } from './naming.js';
import type { Endpoint, NetworkAttachment, OverlayNetworkSpec } from '../types.js';

const MIN_VNI = 1;
/** 24-bit VXLAN network identifier. */
const MAX_VNI = 0xffffff;
/** Room for at least a gateway and one task. */
const MAX_SUBNET_PREFIX = 30;

export interface Network {
  readonly id: string;
  readonly name: string;
  readonly vni: number;
  readonly subnet: Cidr;
  readonly gateway: number;
}

export interface Address {
  readonly ip: number;
  readonly prefixLen: number;
}

export interface RemoteEndpoint {
  readonly network: string;
  readonly ip: string;
  readonly mac: string;
  readonly vtep: string;
}

function label(spec: Partial<OverlayNetworkSpec>): string {
  return spec.name ? `network ${spec.id} (${spec.name})` : `network ${String(spec.id)}`;
}

export function normalizeNetwork(spec: OverlayNetworkSpec): Network {
  checkId('network id', spec.id);
  const what = label(spec);
  if (!Number.isInteger(spec.vni) || spec.vni < MIN_VNI || spec.vni > MAX_VNI) {
    throw new NetdValidationError('E_INVALID_VNI', `${what}: VNI ${String(spec.vni)} is outside ${MIN_VNI}..${MAX_VNI}`);
  }
  const subnet = parseCidr(spec.subnet, `${what}: subnet`);
  if (subnet.address !== subnet.network) {
    throw new NetdValidationError('E_INVALID_CIDR', `${what}: subnet ${spec.subnet} has host bits set; did you mean ${formatCidr({ address: subnet.network, prefixLen: subnet.prefixLen })}?`);
  }
  if (subnet.prefixLen > MAX_SUBNET_PREFIX) {
    throw new NetdValidationError('E_INVALID_CIDR', `${what}: subnet ${spec.subnet} is too small; use /${MAX_SUBNET_PREFIX} or larger`);
  }
  const gateway = parseIpv4(spec.gateway);
  if (gateway === undefined) {
    throw new NetdValidationError('E_INVALID_ADDRESS', `${what}: gateway ${JSON.stringify(spec.gateway)} is not an IPv4 address`);
  }
  if (!contains(subnet, gateway) || gateway === subnet.network || gateway === broadcastOf(subnet)) {
    throw new NetdValidationError('E_INVALID_ADDRESS', `${what}: gateway ${spec.gateway} is not a host address of ${spec.subnet}`);
  }
  return { id: spec.id, name: spec.name ?? spec.id, vni: spec.vni, subnet, gateway };
}

function sameNetwork(a: Network, b: Network): boolean {
  return a.vni === b.vni && a.subnet.network === b.subnet.network && a.subnet.prefixLen === b.subnet.prefixLen && a.gateway === b.gateway;
}

/** Rejects a network that clashes with one already defined on this node. */
export function checkNetworkConflicts(existing: Iterable<Network>, n: Network): void {
  for (const e of existing) {
    if (e.id === n.id) {
      if (!sameNetwork(e, n)) {
        throw new NetdValidationError('E_NETWORK_CHANGED', `network ${n.id} is already defined with VNI ${e.vni}, subnet ${formatCidr({ address: e.subnet.network, prefixLen: e.subnet.prefixLen })}; remove it before redefining it`);
      }
      continue;
    }
    if (e.vni === n.vni) {
      throw new NetdValidationError('E_VNI_CONFLICT', `network ${n.id} (${n.name}) wants VNI ${n.vni}, already used by network ${e.id} (${e.name})`);
    }
    if (overlaps(e.subnet, n.subnet)) {
      throw new NetdValidationError(
        'E_SUBNET_OVERLAP',
        `network ${n.id} (${n.name}) subnet ${formatCidr({ address: n.subnet.network, prefixLen: n.subnet.prefixLen })} overlaps network ${e.id} (${e.name}) subnet ${formatCidr({ address: e.subnet.network, prefixLen: e.subnet.prefixLen })}`,
      );
    }
  }
}

/** Parses a task's addresses on `net`; each must be a usable host address of its subnet. */
export function normalizeAddresses(att: NetworkAttachment, net: Network): Address[] {
  if (!Array.isArray(att.addresses) || att.addresses.length === 0) {
    throw new NetdValidationError('E_INVALID_ATTACHMENT', `attachment to network ${net.id}: no addresses; a task needs at least one address per network`);
  }
  const seen = new Set<number>();
  return att.addresses.map((text) => {
    const what = `attachment to network ${net.id}: address ${JSON.stringify(text)}`;
    const c = typeof text === 'string' && !text.includes('/') ? parseIpv4(text) : undefined;
    const parsed = c !== undefined ? { address: c, prefixLen: net.subnet.prefixLen } : parseCidr(text, what);
    if (!contains(net.subnet, parsed.address) || parsed.prefixLen !== net.subnet.prefixLen) {
      throw new NetdValidationError('E_INVALID_ADDRESS', `${what} is not in the network's subnet ${formatCidr({ address: net.subnet.network, prefixLen: net.subnet.prefixLen })}`);
    }
    if (parsed.address === net.subnet.network || parsed.address === broadcastOf(net.subnet) || parsed.address === net.gateway) {
      throw new NetdValidationError('E_INVALID_ADDRESS', `${what} is the subnet's network, broadcast or gateway address (${formatIpv4(net.gateway)})`);
    }
    if (seen.has(parsed.address)) throw new NetdValidationError('E_INVALID_ATTACHMENT', `${what} is listed twice`);
    seen.add(parsed.address);
    return { ip: parsed.address, prefixLen: parsed.prefixLen };
  });
}

export function normalizeEndpoint(e: Endpoint): RemoteEndpoint {
  const what = `endpoint ${e.id ?? e.ip} on network ${String(e.network)}`;
  if (typeof e.network !== 'string' || e.network === '') {
    throw new NetdValidationError('E_INVALID_ENDPOINT', `${what}: network id is missing`);
  }
  const ip = parseIpv4(e.ip);
  if (ip === undefined) throw new NetdValidationError('E_INVALID_ENDPOINT', `${what}: ip ${JSON.stringify(e.ip)} is not an IPv4 address`);
  const vtep = parseIpv4(e.vtep);
  if (vtep === undefined) throw new NetdValidationError('E_INVALID_ENDPOINT', `${what}: VTEP ${JSON.stringify(e.vtep)} is not an IPv4 address`);
  const mac = e.mac === undefined ? containerMac(ip) : normalizeMac(e.mac);
  if (mac === undefined) throw new NetdValidationError('E_INVALID_ENDPOINT', `${what}: MAC ${JSON.stringify(e.mac)} is not like 02:42:0a:00:01:05`);
  return { network: e.network, ip: formatIpv4(ip), mac, vtep: formatIpv4(vtep) };
}
