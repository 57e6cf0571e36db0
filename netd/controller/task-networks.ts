// What a task's networks are, as the agent hands them over (plain data read off the
// assignment; netd never sees the manager's protobufs or the executor's naming), and the pure
// translations the controller makes of it: the overlay attachments netd programs, the task's and
// its service's DNS records, and the names other nodes learn from the cluster's endpoint_table.
import { createHash } from 'node:crypto';
import type { ServicePort, ServiceRecord, TaskRecord } from '../../dns/index.js';
import type { EndpointRecord } from '../gossip/index.js';
import type { NetworkAttachment } from '../types.js';

/** Docker's overlay driver keeps the network's VNI(s) in this driver option. */
const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const OVERLAY_DRIVER = 'overlay';

/** One network of a task, as its assignment describes it. */
export interface TaskNetwork {
  id: string;
  /** The network's name (its annotations; the id when it has none): `<name>.<network>` in DNS. */
  name: string;
  /** The driver that owns it: netd programs 'overlay'. */
  driver: string;
  driverOptions: Readonly<Record<string, string>>;
  /** The routing mesh's network (not programmed yet: the routing mesh is not built). */
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

/** A task's networks and names: everything netd needs, nothing of the manager's wire. */
export interface TaskNetworks {
  taskId: string;
  /** `<service>.<slot>.<taskid>`: the task's name and its container's. */
  taskName: string;
  hostname?: string;
  serviceId: string;
  serviceName: string;
  endpointMode: 'vip' | 'dnsrr';
  ports: readonly ServicePort[];
  attachments: readonly TaskNetworkAttachment[];
}

/** A task's names on one network, as other nodes' resolvers learn them (endpoint_table). */
export type EndpointNames = Omit<EndpointRecord, 'endpointIp' | 'serviceDisabled'>;

/** The attachments this node programs: every overlay network but the ingress one (the routing
 *  mesh is not built yet), and only where the task has an address. */
export function overlayAttachments(t: TaskNetworks): TaskNetworkAttachment[] {
  return t.attachments.filter((a) => !a.network.ingress && a.network.driver === OVERLAY_DRIVER && a.addresses.length > 0);
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

function stripPrefix(cidr: string): string {
  const i = cidr.indexOf('/');
  return i === -1 ? cidr : cidr.slice(0, i);
}

export function serviceRecord(t: TaskNetworks, attachments: readonly TaskNetworkAttachment[]): ServiceRecord {
  return {
    id: t.serviceId,
    name: t.serviceName,
    endpointMode: t.endpointMode,
    networks: attachments.map((a) => ({ networkId: a.network.id, vips: a.vips.map(stripPrefix), aliases: [...a.serviceAliases] })),
    ports: t.ports,
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
