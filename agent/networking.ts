// Wires a task's sandbox into the node's data plane and the embedded DNS: the overlay
// attachments from the assignment go to netd, the task's names to the DNS name table, and a
// DNS listener opens inside the sandbox — all before the task is started, so its names resolve
// before RUNNING is reported. A task with a healthcheck joins `tasks.<svc>` and dnsrr answers
// only once its controller reports it healthy, as on Docker. On shutdown the names go first,
// then the links.
import type { Task, NetworkAttachment as WireAttachment } from './proto/api.js';
import { containerMacOf, type OverlayDataPlane, type NetworkAttachment } from '../netd/index.js';
import type { EmbeddedDns, ServiceRecord, TaskRecord } from '../dns/index.js';
import type { SandboxNetworking } from './exec/executor.js';
import { serviceName, taskName } from './exec/docker/naming.js';
import type { LogFn } from './log.js';
import { createHash } from 'node:crypto';

const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const OVERLAY_DRIVER = 'overlay';
const ENDPOINT_MODE_DNSRR = 1;
const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

function stripPrefix(cidr: string): string {
  const i = cidr.indexOf('/');
  return i === -1 ? cidr : cidr.slice(0, i);
}

/** The overlay attachments this node programs: every overlay network but the ingress one
 *  (the routing mesh is not built yet). */
export function overlayAttachments(task: Task): WireAttachment[] {
  return (task.networks ?? []).filter((a) => {
    const n = a.network;
    return n && !n.spec?.ingress && (n.driver_state?.name ?? OVERLAY_DRIVER) === OVERLAY_DRIVER && a.addresses.length > 0;
  });
}

export function toNetdAttachment(a: WireAttachment, index: number): NetworkAttachment {
  const n = a.network!;
  const vni = Number((n.driver_state?.options?.[VXLANID_OPTION] ?? '').split(',')[0]);
  const ipam = n.ipam?.configs?.[0];
  return {
    networkId: n.id,
    ...(Number.isInteger(vni) && vni > 0 && ipam?.subnet
      ? { network: { id: n.id, name: n.spec?.annotations?.name ?? n.id, vni, subnet: ipam.subnet, gateway: ipam.gateway } }
      : {}),
    addresses: a.addresses,
    defaultGateway: index === 0,
  };
}

export function serviceRecord(task: Task, attachments: readonly WireAttachment[]): ServiceRecord {
  const endpoint = task.endpoint;
  const vips = endpoint?.virtual_ips ?? [];
  return {
    id: task.service_id,
    name: serviceName(task),
    endpointMode: (endpoint?.spec?.mode as number | undefined) === ENDPOINT_MODE_DNSRR ? 'dnsrr' : 'vip',
    networks: attachments.map((a) => ({
      networkId: a.network!.id,
      vips: vips.filter((v) => v.network_id === a.network!.id && v.addr).map((v) => stripPrefix(v.addr)),
      aliases: (task.spec?.networks ?? []).find((c) => c.target === a.network!.id || c.target === a.network!.spec?.annotations?.name)?.aliases ?? [],
    })),
    ports: (endpoint?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      protocol: PROTOCOLS[p.protocol as number] ?? 'tcp',
      targetPort: p.target_port,
      ...(p.published_port ? { publishedPort: p.published_port } : {}),
    })),
  };
}

export function taskRecord(task: Task, attachments: readonly WireAttachment[], healthy = true): TaskRecord {
  const name = taskName(task);
  return {
    id: task.id,
    serviceId: task.service_id,
    name,
    containerName: name,
    ...(task.spec?.container?.hostname ? { hostname: task.spec.container.hostname } : {}),
    healthy,
    networks: attachments.map((a) => ({ networkId: a.network!.id, addresses: a.addresses.map(stripPrefix), aliases: a.aliases })),
  };
}

/** Where this node's overlay endpoints are announced to the other nodes (the gossip). */
export interface PeerDirectory {
  publish(network: string, key: string, endpoint: { ip: string; prefixLength: number; mac: string }, names: EndpointNames): void;
  withdraw(network: string, key: string): void;
}

/** A task's names on one network, as other nodes' resolvers learn them (endpoint_table). */
export interface EndpointNames {
  /** The task (container) name. */
  name: string;
  serviceName: string;
  serviceId: string;
  /** The service's VIP on this network; empty for dnsrr. */
  virtualIp: string;
  aliases: string[];
  taskAliases: string[];
}

/** Another node's task on one network, from the cluster tables. */
export interface RemoteEndpoint {
  network: string;
  key: string;
  names: EndpointNames;
  ip: string;
  /** libnetwork's service_disabled: out of the service's answers (not healthy). */
  disabled: boolean;
}

/** A stable 64-hex key per task endpoint, shaped like the endpoint ids Docker's nodes use. */
export function endpointKey(taskId: string, networkId: string): string {
  return createHash('sha256').update(`${taskId}/${networkId}`).digest('hex');
}

/** One service record from what each of its tasks says: local tasks first (they carry the
 *  spec's ports), networks united by id. */
function mergeService(parts: ReadonlyMap<string, ServiceRecord>): ServiceRecord {
  const all = [...parts.values()];
  const base = all.find((r) => (r.ports ?? []).length > 0) ?? all[0]!;
  const networks = new Map<string, ServiceRecord['networks'][number]>();
  for (const r of all) for (const n of r.networks) if (!networks.has(n.networkId)) networks.set(n.networkId, n);
  return { ...base, networks: [...networks.values()] };
}

export class TaskNetworking implements SandboxNetworking {
  /** Per service, what each task (local, or another node's endpoint) says of it: the table
   *  gets their union, and the service goes when its last task does. */
  private readonly services = new Map<string, Map<string, ServiceRecord>>();
  /** Other nodes' endpoints in the name table, by key. */
  private readonly remote = new Map<string, RemoteEndpoint>();
  /** Health of each published task: a re-attach (start, wait, a new sandbox) keeps it. */
  private readonly health = new Map<string, boolean>();

  /** Endpoints announced per task: network → key. */
  private readonly published = new Map<string, Map<string, string>>();

  constructor(
    private readonly dataPlane: OverlayDataPlane,
    private readonly dns: EmbeddedDns,
    private readonly log: LogFn,
    private readonly peers?: PeerDirectory,
  ) {}

  wants(task: Task): boolean {
    return overlayAttachments(task).length > 0;
  }

  async attach(task: Task, netnsPath: string, opts: { healthy: boolean }): Promise<void> {
    const wire = overlayAttachments(task);
    if (wire.length === 0) return;
    await this.dataPlane.attachSandbox(task.id, netnsPath, wire.map(toNetdAttachment));
    for (const a of wire) this.dns.table.setNetwork({ id: a.network!.id, name: a.network!.spec?.annotations?.name ?? a.network!.id });
    this.contribute(task.id, serviceRecord(task, wire));
    const healthy = this.health.get(task.id) ?? opts.healthy;
    this.health.set(task.id, healthy);
    this.dns.table.setTask(taskRecord(task, wire, healthy));
    await this.dns.openSandbox(task.id, netnsPath, wire.map((a) => a.network!.id));
    this.announce(task, wire);
    this.log('debug', 'sandbox attached', { task: task.id, networks: wire.map((a) => a.network!.spec?.annotations?.name) });
  }

  setHealthy(task: Task, healthy: boolean): void {
    // Not published (never attached, or already withdrawn): a late health event must not bring
    // the names back.
    if (!this.health.has(task.id) || this.health.get(task.id) === healthy) return;
    this.health.set(task.id, healthy);
    this.dns.table.setTaskHealthy(task.id, healthy);
    this.log('debug', healthy ? 'task healthy: in its service answers' : 'task not healthy: out of its service answers', { task: task.id });
  }

  private announce(task: Task, wire: readonly WireAttachment[]): void {
    if (!this.peers || this.published.has(task.id)) return;
    const keys = new Map<string, string>();
    for (const a of wire) {
      const [ip, len] = (a.addresses[0] ?? '').split('/');
      const prefixLength = Number(len ?? (a.network?.ipam?.configs?.[0]?.subnet ?? '').split('/')[1]);
      const mac = ip ? containerMacOf(ip) : undefined;
      if (!ip || !mac || !Number.isInteger(prefixLength)) continue;
      const key = endpointKey(task.id, a.network!.id);
      const svc = serviceRecord(task, [a]).networks[0];
      const names: EndpointNames = {
        name: taskName(task),
        serviceName: serviceName(task),
        serviceId: task.service_id,
        virtualIp: svc?.vips?.[0] ?? '',
        aliases: [...(svc?.aliases ?? [])],
        taskAliases: [...a.aliases],
      };
      this.peers.publish(a.network!.id, key, { ip, prefixLength, mac }, names);
      keys.set(a.network!.id, key);
    }
    this.published.set(task.id, keys);
  }

  /** Names stop resolving before the container is stopped; other nodes stop sending to it. */
  unpublish(task: Task): void {
    for (const [network, key] of this.published.get(task.id) ?? []) this.peers?.withdraw(network, key);
    this.published.delete(task.id);
    this.health.delete(task.id);
    this.dns.table.removeTask(task.id);
    this.uncontribute(task.service_id, task.id);
  }

  /** Another node's task appeared on (or left) a network: its names and its service's. */
  setRemote(e: RemoteEndpoint): void {
    const prev = this.remote.get(e.key);
    if (prev && prev.names.serviceId !== e.names.serviceId) this.removeRemote(e.key);
    this.remote.set(e.key, e);
    const { names } = e;
    const vip = names.virtualIp && names.virtualIp !== '<nil>' ? names.virtualIp : '';
    this.contribute(e.key, {
      id: names.serviceId,
      name: names.serviceName,
      endpointMode: vip ? 'vip' : 'dnsrr',
      networks: [{ networkId: e.network, vips: vip ? [vip] : [], aliases: names.aliases }],
    });
    this.dns.table.setTask({
      id: e.key,
      serviceId: names.serviceId,
      name: names.name,
      containerName: names.name,
      healthy: !e.disabled,
      networks: [{ networkId: e.network, addresses: [e.ip], aliases: names.taskAliases }],
    });
  }

  removeRemote(key: string): void {
    const e = this.remote.get(key);
    if (!e) return;
    this.remote.delete(key);
    this.dns.table.removeTask(key);
    this.uncontribute(e.names.serviceId, key);
  }

  private contribute(contributor: string, record: ServiceRecord): void {
    let m = this.services.get(record.id);
    if (!m) this.services.set(record.id, (m = new Map()));
    m.set(contributor, record);
    this.dns.table.setService(mergeService(m));
  }

  private uncontribute(serviceId: string, contributor: string): void {
    const m = this.services.get(serviceId);
    if (!m?.delete(contributor)) return;
    if (m.size === 0) {
      this.services.delete(serviceId);
      this.dns.table.removeService(serviceId);
    } else {
      this.dns.table.setService(mergeService(m));
    }
  }

  async detach(task: Task): Promise<void> {
    this.unpublish(task);
    await this.dns.closeSandbox(task.id);
    await this.dataPlane.detachSandbox(task.id);
  }
}
