// What an assignment says of a task's networks, read off the manager's Task into the plain
// shape netd's controller takes: its attachments, the service's VIPs, aliases, endpoint mode
// and ports, and the task's names as this executor names its containers. Pure.
import type { NodeNetworkAttachment, TaskNetwork, TaskNetworks } from '../../../netd/index.js';
import type { Network, Node, Task } from '../../proto/api.js';
import { PortProtocol, PublishMode, ResolutionMode } from '../../proto/enums.js';
import { serviceName, taskName } from './naming.js';

/** A network without driver state is Swarm's default: overlay. */
const OVERLAY_DRIVER = 'overlay';
const PROTOCOLS = { [PortProtocol.TCP]: 'tcp', [PortProtocol.UDP]: 'udp', [PortProtocol.SCTP]: 'sctp' } as const;

/** `hostname` is the spec's hostname with its templates expanded (`{{.Task.Name}}`), as the
 *  container gets it; the raw spec value is used when none is given. */
export function taskNetworksOf(task: Task, opts: { hostname?: string } = {}): TaskNetworks {
  const endpoint = task.endpoint;
  const vips = endpoint?.virtual_ips ?? [];
  const hostname = opts.hostname ?? task.spec?.container?.hostname;
  return {
    taskId: task.id,
    taskName: taskName(task),
    ...(hostname ? { hostname } : {}),
    serviceId: task.service_id,
    serviceName: serviceName(task),
    endpointMode: endpoint?.spec?.mode === ResolutionMode.DNSRR ? 'dnsrr' : 'vip',
    ports: (endpoint?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      // An unknown number is passed on as such: netd fails the task naming the port.
      protocol: PROTOCOLS[p.protocol] ?? `unknown(${String(p.protocol)})`,
      targetPort: p.target_port,
      ...(p.published_port ? { publishedPort: p.published_port } : {}),
      publishMode: p.publish_mode === PublishMode.HOST ? ('host' as const) : ('ingress' as const),
    })),
    attachments: (task.networks ?? []).flatMap((a) => {
      const n = a.network;
      if (!n) return [];
      const name = n.spec?.annotations?.name ?? '';
      return [
        {
          network: taskNetworkOf(n),
          addresses: a.addresses ?? [],
          aliases: a.aliases ?? [],
          serviceAliases: (task.spec?.networks ?? []).find((c) => c.target === n.id || (name !== '' && c.target === name))?.aliases ?? [],
          vips: vips.filter((v) => v.network_id === n.id && v.addr).map((v) => v.addr),
        },
      ];
    }),
  };
}

function taskNetworkOf(n: Network): TaskNetwork {
  const name = n.spec?.annotations?.name ?? '';
  const ipam = n.ipam?.configs?.[0];
  return {
    id: n.id,
    name: name || n.id,
    driver: n.driver_state?.name ?? OVERLAY_DRIVER,
    driverOptions: n.driver_state?.options ?? {},
    ingress: n.spec?.ingress === true,
    ...(ipam?.subnet ? { subnet: ipam.subnet } : {}),
    ...(ipam?.gateway ? { gateway: ipam.gateway } : {}),
  };
}

/** The node's network attachments (Node.Attachments; the deprecated single `attachment` is
 *  the ingress one on older managers). */
export function nodeAttachmentsOf(node: Node): NodeNetworkAttachment[] {
  const list = node.attachments?.length ? node.attachments : node.attachment ? [node.attachment] : [];
  return list.flatMap((a) => (a.network ? [{ network: taskNetworkOf(a.network), addresses: a.addresses ?? [] }] : []));
}
