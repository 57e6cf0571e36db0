// From an assignment's Task to what netd's controller programs and publishes: the agent's pure
// translation (taskNetworksOf) and the controller's (overlay attachments, DNS records, gossip names).
import test from 'ava';
import { taskNetworksOf } from '../../agent/exec/docker/task-networks.js';
import type { Task } from '../../agent/proto/api.js';
import {
  endpointAddress,
  endpointKey,
  endpointNames,
  overlayAttachments,
  remoteRecords,
  serviceRecord,
  taskRecord,
  toNetdAttachment,
} from '../../netd/controller/task-networks.js';

const APP = 'net-app';
const INGRESS = 'net-ingress';
const VXLANID = 'com.docker.network.driver.overlay.vxlanid_list';

function task(over: { mode?: number; hostname?: string } = {}): Task {
  return {
    id: 'task1',
    service_id: 'svc-web',
    service_annotations: { name: 'web', labels: {} },
    slot: 3,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    desired_state: 'RUNNING',
    spec: { container: { hostname: over.hostname ?? '' }, networks: [{ target: 'appnet', aliases: ['websvc'] }] },
    endpoint: {
      spec: { mode: over.mode ?? 0 },
      ports: [{ name: 'http', protocol: 0, target_port: 80, published_port: 8080 }, { name: '', protocol: 1, target_port: 53, published_port: 0 }],
      virtual_ips: [
        { network_id: APP, addr: '10.9.0.2/24' },
        { network_id: INGRESS, addr: '10.255.0.4/16' },
      ],
    },
    networks: [
      {
        network: { id: APP, spec: { annotations: { name: 'appnet' }, ingress: false }, driver_state: { name: 'overlay', options: { [VXLANID]: '4097' } }, ipam: { configs: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] } },
        addresses: ['10.9.0.5/24'],
        aliases: ['al'],
      },
      {
        network: { id: INGRESS, spec: { annotations: { name: 'ingress' }, ingress: true }, driver_state: { name: 'overlay', options: { [VXLANID]: '4096' } }, ipam: { configs: [{ subnet: '10.255.0.0/16', gateway: '10.255.0.1' }] } },
        addresses: ['10.255.0.7/16'],
        aliases: [],
      },
      {
        network: { id: 'net-bridge', spec: { annotations: { name: 'br' }, ingress: false }, driver_state: { name: 'bridge', options: {} }, ipam: { configs: [] } },
        addresses: ['172.30.0.2/16'],
        aliases: [],
      },
    ],
  } as unknown as Task;
}

test('taskNetworksOf reads names, endpoint mode, ports, VIPs and aliases off the Task', (t) => {
  const n = taskNetworksOf(task({ hostname: 'h1' }));
  t.like(n, { taskId: 'task1', taskName: 'web.3.task1', hostname: 'h1', serviceId: 'svc-web', serviceName: 'web', endpointMode: 'vip' });
  t.deepEqual(n.ports, [
    { name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
    { protocol: 'udp', targetPort: 53, publishMode: 'ingress' },
  ]);
  t.deepEqual(
    n.attachments.map((a) => [a.network.id, a.network.name, a.network.driver, a.network.ingress, a.vips, a.serviceAliases, a.aliases]),
    [
      [APP, 'appnet', 'overlay', false, ['10.9.0.2/24'], ['websvc'], ['al']],
      [INGRESS, 'ingress', 'overlay', true, ['10.255.0.4/16'], [], []],
      ['net-bridge', 'br', 'bridge', false, [], [], []],
    ],
  );
  t.is(taskNetworksOf(task({ mode: 1 })).endpointMode, 'dnsrr');
  t.false('hostname' in taskNetworksOf(task()));
});

test("overlay networks are programmed (the routing mesh's too); the first gets the default route", (t) => {
  const n = taskNetworksOf(task());
  const wire = overlayAttachments(n);
  t.deepEqual(
    wire.map((a) => a.network.id),
    [APP, INGRESS],
  );
  t.deepEqual(toNetdAttachment(wire[0]!, 0), {
    networkId: APP,
    network: { id: APP, name: 'appnet', vni: 4097, subnet: '10.9.0.0/24', gateway: '10.9.0.1' },
    addresses: ['10.9.0.5/24'],
    defaultGateway: true,
  });
  // Without a VNI the attachment names the network only: it must be defined some other way.
  const noVni = { ...wire[0]!, network: { ...wire[0]!.network, driverOptions: {} } };
  t.deepEqual(toNetdAttachment(noVni, 1), { networkId: APP, addresses: ['10.9.0.5/24'], defaultGateway: false });
});

test('DNS records: the task with its addresses bare, the service with its VIP, aliases and ports', (t) => {
  const n = taskNetworksOf(task());
  const wire = overlayAttachments(n).filter((a) => !a.network.ingress);
  t.deepEqual(taskRecord(n, wire, false), {
    id: 'task1',
    serviceId: 'svc-web',
    name: 'web.3.task1',
    containerName: 'web.3.task1',
    healthy: false,
    networks: [{ networkId: APP, addresses: ['10.9.0.5'], aliases: ['al'] }],
  });
  t.deepEqual(serviceRecord(n, wire), {
    id: 'svc-web',
    name: 'web',
    endpointMode: 'vip',
    networks: [{ networkId: APP, vips: ['10.9.0.2'], aliases: ['websvc'] }],
    ports: [
      { name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 8080 },
      { protocol: 'udp', targetPort: 53 },
    ],
  });
});

test('gossip: the endpoint announced per network, with names as Docker nodes read them', (t) => {
  const n = taskNetworksOf(task());
  const [a] = overlayAttachments(n);
  t.deepEqual(endpointAddress(a!), { ip: '10.9.0.5', prefixLength: 24 });
  t.deepEqual(endpointAddress({ ...a!, addresses: ['10.9.0.5'] }), { ip: '10.9.0.5', prefixLength: 24 }, 'the subnet gives the length');
  t.is(endpointAddress({ ...a!, addresses: [] }), undefined);
  t.deepEqual(endpointNames(n, a!), { name: 'web.3.task1', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', aliases: ['websvc'], taskAliases: ['al'] });
  t.regex(endpointKey('task1', APP), /^[0-9a-f]{64}$/);
  t.not(endpointKey('task1', APP), endpointKey('task1', INGRESS));
});

test("another node's endpoint_table entry: dnsrr when the VIP is empty or '<nil>'; disabled = not healthy", (t) => {
  const base = { name: 'db.1.x', serviceName: 'db', serviceId: 'svc-db', endpointIp: '10.9.0.21', aliases: ['d'], taskAliases: ['t'], serviceDisabled: true };
  for (const virtualIp of ['', '<nil>']) {
    const r = remoteRecords('k1', APP, { ...base, virtualIp });
    t.is(r.service.endpointMode, 'dnsrr');
    t.deepEqual(r.service.networks, [{ networkId: APP, vips: [], aliases: ['d'] }]);
  }
  const r = remoteRecords('k1', APP, { ...base, virtualIp: '10.9.0.2', serviceDisabled: false });
  t.deepEqual(r, {
    task: { id: 'k1', remote: true, serviceId: 'svc-db', name: 'db.1.x', containerName: 'db.1.x', healthy: true, networks: [{ networkId: APP, addresses: ['10.9.0.21'], aliases: ['t'] }] },
    service: { id: 'svc-db', name: 'db', endpointMode: 'vip', networks: [{ networkId: APP, vips: ['10.9.0.2'], aliases: ['d'] }] },
  });
});
