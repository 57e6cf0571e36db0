// Wires a task's sandbox into the node's data plane and the embedded DNS: the overlay
// attachments from the assignment go to netd, the task's names to the DNS name table, and a
// DNS listener opens inside the sandbox — all before the task is started, so its names resolve
// before RUNNING is reported. A task with a healthcheck joins `tasks.<svc>` and dnsrr answers
// only once its controller reports it healthy, as on Docker. On shutdown the names go first,
// then the links.
import type { Task, NetworkAttachment as WireAttachment } from './proto/api.js';
import type { OverlayDataPlane, NetworkAttachment } from '../netd/index.js';
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
  publish(network: string, key: string, endpoint: { ip: string; prefixLength: number; mac: string }): void;
  withdraw(network: string, key: string): void;
}

/** Docker's overlay MAC for an IPv4 address: 02:42 and the address's four bytes. */
export function overlayMac(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** A stable 64-hex key per task endpoint, shaped like the endpoint ids Docker's nodes use. */
export function endpointKey(taskId: string, networkId: string): string {
  return createHash('sha256').update(`${taskId}/${networkId}`).digest('hex');
}

export class TaskNetworking implements SandboxNetworking {
  /** Local tasks per service, so a service's record goes when its last local task does. */
  private readonly serviceTasks = new Map<string, Set<string>>();
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
    this.dns.table.setService(serviceRecord(task, wire));
    const healthy = this.health.get(task.id) ?? opts.healthy;
    this.health.set(task.id, healthy);
    this.dns.table.setTask(taskRecord(task, wire, healthy));
    let tasks = this.serviceTasks.get(task.service_id);
    if (!tasks) this.serviceTasks.set(task.service_id, (tasks = new Set()));
    tasks.add(task.id);
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
      if (!ip || !Number.isInteger(prefixLength) || ip.includes(':')) continue;
      const key = endpointKey(task.id, a.network!.id);
      this.peers.publish(a.network!.id, key, { ip, prefixLength, mac: overlayMac(ip) });
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
    const tasks = this.serviceTasks.get(task.service_id);
    tasks?.delete(task.id);
    if (tasks && tasks.size === 0) {
      this.serviceTasks.delete(task.service_id);
      this.dns.table.removeService(task.service_id);
    }
  }

  async detach(task: Task): Promise<void> {
    this.unpublish(task);
    await this.dns.closeSandbox(task.id);
    await this.dataPlane.detachSandbox(task.id);
  }
}
