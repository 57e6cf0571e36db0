// What a task's networks are, as the agent hands them over (plain data read off the
// assignment; netd never sees the manager's protobufs or the executor's naming), and the pure
// translations the controller makes of it: the overlay attachments netd programs, the task's and
// its service's DNS records, and the names other nodes learn from the cluster's endpoint_table.
import { createHash } from 'node:crypto';
import type { ServicePort, ServiceRecord, TaskRecord } from '../../dns/index.js';
import { NetdValidationError } from '../errors.js';
import type { EndpointRecord, IngressPort } from '../gossip/index.js';
import type { NetworkAttachment } from '../types.js';
import type { LbPort } from '../vip/index.js';
import type { LbBackendEntry } from './load-balancers.js';

/** Docker's overlay driver keeps the network's VNI(s) in this driver option. */
const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const OVERLAY_DRIVER = 'overlay';
/** Docker's driver option that asks for IPsec between nodes (`--opt encrypted`). */
export const ENCRYPTED_OPTION = 'encrypted';
const MAX_PORT = 65_535;
const LB_PROTOCOLS = new Set(['tcp', 'udp']);

/** One network of a task, as its assignment describes it. */
export interface TaskNetwork {
  id: string;
  /** The network's name (its annotations; the id when it has none): `<name>.<network>` in DNS. */
  name: string;
  /** The driver that owns it: netd programs 'overlay'. */
  driver: string;
  driverOptions: Readonly<Record<string, string>>;
  /** The routing mesh's network (Swarm's `ingress`). */
  ingress: boolean;
  /** The first IPAM config: subnet and gateway. */
  subnet?: string;
  gateway?: string;
}

export interface TaskNetworkAttachment {
  network: TaskNetwork;
  /** The task's addresses on the network, CIDR (10.0.1.5/24). */
  addresses: readonly string[];
  /** Container-level aliases on this network (the attachment's). */
  aliases: readonly string[];
  /** The service's aliases on this network (its spec's network config). */
  serviceAliases: readonly string[];
  /** The service's VIPs on this network as the assignment has them (10.0.1.2/24; vip endpoint mode). */
  vips: readonly string[];
}

/** A port of the task's service as the assignment has it. `protocol` is the wire's name, or
 *  `unknown(<n>)` for a number this agent does not know (the task then fails naming the port). */
export interface TaskPort {
  name?: string;
  protocol: string;
  targetPort: number;
  publishedPort?: number;
  /** ingress = the routing mesh (every node); host = this task's node only. */
  publishMode: 'ingress' | 'host';
}

/** A task's networks and names: everything netd needs, nothing of the manager's wire. */
export interface TaskNetworks {
  taskId: string;
  /** `<service>.<slot>.<taskid>`: the task's name and its container's. */
  taskName: string;
  hostname?: string;
  serviceId: string;
  serviceName: string;
  endpointMode: 'vip' | 'dnsrr';
  ports: readonly TaskPort[];
  attachments: readonly TaskNetworkAttachment[];
}

/** A task's names on one network, as other nodes' resolvers learn them (endpoint_table). */
export type EndpointNames = Omit<EndpointRecord, 'endpointIp' | 'serviceDisabled'>;

/** The attachments this node programs: every overlay network (the routing mesh's included)
 *  where the task has an address. */
export function overlayAttachments(t: TaskNetworks): TaskNetworkAttachment[] {
  return t.attachments.filter((a) => a.network.driver === OVERLAY_DRIVER && a.addresses.length > 0);
}

function portName(p: TaskPort): string {
  return `${p.publishedPort ?? '-'}:${p.targetPort}/${p.protocol} (${p.publishMode})`;
}

/**
 * What berth refuses rather than do wrongly, before anything is plumbed: an encrypted overlay
 * (never carried in clear text; IPsec is not built), and ports it cannot publish — an unknown
 * protocol, a port out of range, the same published port twice, SCTP on the routing mesh.
 */
export function checkTaskNetworks(t: TaskNetworks): void {
  for (const a of overlayAttachments(t)) {
    if (ENCRYPTED_OPTION in a.network.driverOptions) {
      throw new NetdValidationError(
        'E_ENCRYPTED_UNSUPPORTED',
        `network ${a.network.name} is encrypted (--opt encrypted): berth does not program IPsec yet and never carries an encrypted network in clear text; run the task on a Docker node (placement constraint) or use an unencrypted network`,
      );
    }
  }
  const published = new Set<string>();
  for (const p of t.ports) {
    if (p.protocol !== 'tcp' && p.protocol !== 'udp' && p.protocol !== 'sctp') {
      throw new NetdValidationError('E_INVALID_PORT', `port ${portName(p)}: unknown protocol ${p.protocol}; use tcp or udp`);
    }
    for (const [what, n] of [['target', p.targetPort], ['published', p.publishedPort]] as const) {
      if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= MAX_PORT)) throw new NetdValidationError('E_INVALID_PORT', `port ${portName(p)}: ${what} port ${String(n)} is not in 1..${MAX_PORT}`);
    }
    if (p.publishedPort === undefined) {
      if (p.publishMode === 'host') throw new NetdValidationError('E_INVALID_PORT', `port ${portName(p)}: a host-mode port needs a published port on berth (dynamic host ports are not supported); publish it as published=<port>,mode=host`);
      continue;
    }
    if (!LB_PROTOCOLS.has(p.protocol)) throw new NetdValidationError('E_INVALID_PORT', `port ${portName(p)}: berth publishes tcp and udp only`);
    const key = `${p.protocol}/${p.publishedPort}`;
    if (published.has(key)) throw new NetdValidationError('E_PORT_CONFLICT', `port ${p.publishedPort}/${p.protocol} is published twice by service ${t.serviceName}`);
    published.add(key);
  }
}

/** The service's ports as the DNS answers SRV queries. */
export function servicePorts(t: TaskNetworks): ServicePort[] {
  return t.ports.flatMap((p) =>
    p.protocol === 'tcp' || p.protocol === 'udp' || p.protocol === 'sctp'
      ? [{ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, targetPort: p.targetPort, ...(p.publishedPort ? { publishedPort: p.publishedPort } : {}) }]
      : [],
  );
}

/** The service's routing-mesh ports: ingress mode, tcp or udp, with a published port. */
function meshPorts(t: TaskNetworks): Array<{ protocol: LbPort['protocol']; publishedPort: number; targetPort: number }> {
  return t.ports.flatMap((p) => (p.publishMode === 'ingress' && p.publishedPort && LB_PROTOCOLS.has(p.protocol) ? [{ protocol: p.protocol as LbPort['protocol'], publishedPort: p.publishedPort, targetPort: p.targetPort }] : []));
}

/** The routing-mesh ports of a task's service, as its load balancer takes them. */
export function ingressPorts(t: TaskNetworks): LbPort[] {
  return meshPorts(t).map((p) => ({ protocol: p.protocol, port: p.publishedPort }));
}

/** A local task as a backend of its service's load balancer on one network; undefined when it
 *  is none (dnsrr off the ingress network, or no address). */
export function localLbEntry(t: TaskNetworks, a: TaskNetworkAttachment, weight: number): LbBackendEntry | undefined {
  const ip = endpointAddress(a)?.ip;
  const vip = t.endpointMode === 'vip' && a.vips[0] !== undefined ? stripPrefix(a.vips[0]) : undefined;
  const ports = a.network.ingress ? ingressPorts(t) : [];
  if (!ip || (!vip && ports.length === 0)) return undefined;
  return { serviceId: t.serviceId, ip, weight, ...(vip ? { vip } : {}), ports };
}

/** Another node's endpoint_table entry as a backend: disabled = draining (weight 0), as
 *  libnetwork's rmServiceBinding(fullRemove=false). Ports only where the entry carries them. */
export function remoteLbEntry(r: EndpointRecord): LbBackendEntry | undefined {
  const vip = r.virtualIp && r.virtualIp !== '<nil>' ? r.virtualIp : undefined;
  const ports = (r.ingressPorts ?? []).flatMap((p: IngressPort): LbPort[] => (p.protocol !== 'sctp' && p.publishedPort > 0 && p.publishedPort <= MAX_PORT ? [{ protocol: p.protocol, port: p.publishedPort }] : []));
  if (!vip && ports.length === 0) return undefined;
  return { serviceId: r.serviceId, ip: r.endpointIp, weight: r.serviceDisabled ? 0 : 1, ...(vip ? { vip } : {}), ports };
}

/** The task's ingress-network redirects: published port → target port on its ingress address
 *  (traffic from any node's routing mesh arrives on the published port, Docker's too). */
export function ingressRedirects(t: TaskNetworks): Array<{ address: string; protocol: 'tcp' | 'udp'; port: number; targetPort: number }> {
  const a = overlayAttachments(t).find((x) => x.network.ingress);
  const ip = a && endpointAddress(a)?.ip;
  if (!ip) return [];
  return meshPorts(t).map((p) => ({ address: ip, protocol: p.protocol, port: p.publishedPort, targetPort: p.targetPort }));
}

export function toNetdAttachment(a: TaskNetworkAttachment, index: number): NetworkAttachment {
  const n = a.network;
  const vni = Number((n.driverOptions[VXLANID_OPTION] ?? '').split(',')[0]);
  return {
    networkId: n.id,
    ...(Number.isInteger(vni) && vni > 0 && n.subnet ? { network: { id: n.id, name: n.name, vni, subnet: n.subnet, gateway: n.gateway ?? '' } } : {}),
    addresses: a.addresses,
    defaultGateway: index === 0,
  };
}

export function stripPrefix(cidr: string): string {
  const i = cidr.indexOf('/');
  return i === -1 ? cidr : cidr.slice(0, i);
}

export function serviceRecord(t: TaskNetworks, attachments: readonly TaskNetworkAttachment[]): ServiceRecord {
  return {
    id: t.serviceId,
    name: t.serviceName,
    endpointMode: t.endpointMode,
    networks: attachments.map((a) => ({ networkId: a.network.id, vips: a.vips.map(stripPrefix), aliases: [...a.serviceAliases] })),
    ports: servicePorts(t),
  };
}

export function taskRecord(t: TaskNetworks, attachments: readonly TaskNetworkAttachment[], healthy: boolean): TaskRecord {
  return {
    id: t.taskId,
    serviceId: t.serviceId,
    name: t.taskName,
    containerName: t.taskName,
    ...(t.hostname ? { hostname: t.hostname } : {}),
    healthy,
    networks: attachments.map((a) => ({ networkId: a.network.id, addresses: a.addresses.map(stripPrefix), aliases: a.aliases })),
  };
}

export function endpointNames(t: TaskNetworks, a: TaskNetworkAttachment): EndpointNames {
  return {
    name: t.taskName,
    serviceName: t.serviceName,
    serviceId: t.serviceId,
    virtualIp: a.vips[0] === undefined ? '' : stripPrefix(a.vips[0]),
    ...(a.network.ingress ? { ingressPorts: meshPorts(t) } : {}),
    aliases: [...a.serviceAliases],
    taskAliases: [...a.aliases],
  };
}

/** The endpoint netd announces for a task on one network: its address, prefix length and the
 *  subnet's length when the address carries none. Undefined when there is no usable address. */
export function endpointAddress(a: TaskNetworkAttachment): { ip: string; prefixLength: number } | undefined {
  const [ip, len] = (a.addresses[0] ?? '').split('/');
  const prefixLength = Number(len ?? (a.network.subnet ?? '').split('/')[1]);
  return ip && Number.isInteger(prefixLength) ? { ip, prefixLength } : undefined;
}

/** A stable 64-hex key per task endpoint, shaped like the endpoint ids Docker's nodes use. */
export function endpointKey(taskId: string, networkId: string): string {
  return createHash('sha256').update(`${taskId}/${networkId}`).digest('hex');
}

/** Another node's task on one network (an endpoint_table entry) as DNS records. */
export function remoteRecords(key: string, network: string, r: EndpointRecord): { task: TaskRecord; service: ServiceRecord } {
  const vip = r.virtualIp && r.virtualIp !== '<nil>' ? r.virtualIp : '';
  return {
    task: {
      id: key,
      remote: true,
      serviceId: r.serviceId,
      name: r.name,
      containerName: r.name,
      healthy: !r.serviceDisabled,
      networks: [{ networkId: network, addresses: [r.endpointIp], aliases: r.taskAliases }],
    },
    service: { id: r.serviceId, name: r.serviceName, endpointMode: vip ? 'vip' : 'dnsrr', networks: [{ networkId: network, vips: vip ? [vip] : [], aliases: r.aliases }] },
  };
}
