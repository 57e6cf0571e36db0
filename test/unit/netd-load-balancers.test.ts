// The controller's load-balancer bookkeeping: which backends each service has on each network
// and with what weight, through a task's lifecycle (healthy → in, unhealthy → out at once,
// shutdown → draining, detach → gone) and other nodes' endpoint_table entries (disabled →
// draining, deleted → gone). The VIP backend and the overlay plane are fakes (named so): this is
// about the specs handed to them; the real backends run in test/integration/vip.test.ts and
// test/vm/vip.test.ts.
import test from 'ava';
import { taskNetworksOf } from '../../agent/exec/docker/task-networks.js';
import type { Task } from '../../agent/proto/api.js';
import { NameTable } from '../../dns/name-table.js';
import { NameRegistry } from '../../dns/records.js';
import { LoadBalancers, lbServices } from '../../netd/controller/load-balancers.js';
import { NetworkController, type OverlayPlane, type SandboxDns } from '../../netd/controller/network-controller.js';
import type { TaskNetwork } from '../../netd/index.js';
import type { LoadBalancerSpec, VipBackend } from '../../netd/vip/index.js';

const NET = 'net-app';
const INGRESS = 'net-ingress';

function network(id: string, ingress = false, options: Record<string, string> = {}) {
  return { id, spec: { annotations: { name: ingress ? 'ingress' : 'appnet' }, ingress }, driver_state: { name: 'overlay', options: { 'com.docker.network.driver.overlay.vxlanid_list': ingress ? '4096' : '4097', ...options } }, ipam: { configs: [{ subnet: ingress ? '10.0.0.0/24' : '10.9.0.0/24', gateway: ingress ? '10.0.0.1' : '10.9.0.1' }] } };
}

function task(id: string, address: string, opts: { ports?: unknown[]; ingressAddress?: string; netOptions?: Record<string, string> } = {}) {
  return taskNetworksOf({
    id,
    service_id: 'svc-web',
    service_annotations: { name: 'web', labels: {} },
    slot: 1,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    spec: { container: { hostname: '' }, networks: [] },
    endpoint: { spec: { mode: 0 }, ports: opts.ports ?? [], virtual_ips: [{ network_id: NET, addr: '10.9.0.2/24' }, { network_id: INGRESS, addr: '10.0.0.5/24' }] },
    networks: [
      ...(opts.ingressAddress ? [{ network: network(INGRESS, true), addresses: [`${opts.ingressAddress}/24`], aliases: [] }] : []),
      { network: network(NET, false, opts.netOptions), addresses: [`${address}/24`], aliases: [] },
    ],
  } as unknown as Task);
}

/** A fake VIP backend (records each spec) and a fake plane (records LB addresses). */
function setup() {
  const applied = new Map<string, LoadBalancerSpec>();
  const fakeVip: VipBackend = {
    kind: 'nftables',
    apply: async (spec) => void applied.set(spec.netnsPath, spec),
    remove: async (path) => void applied.delete(path),
    status: () => ({ kind: 'nftables', namespaces: 0, services: 0, backends: 0, applies: 0, lastApplyMs: undefined }),
    close: async () => undefined,
  };
  const lbAddresses = new Map<string, unknown>();
  const fakePlane = {
    attachSandbox: async () => [],
    detachSandbox: async () => undefined,
    createNetwork: async () => undefined,
    removeNetwork: async () => undefined,
    setLoadBalancer: async (id: string, lb: unknown) => {
      lbAddresses.set(id, lb);
      return `/ns/${id}`;
    },
  } as unknown as OverlayPlane;
  const table = new NameTable({ random: () => 0 });
  const dns = { records: new NameRegistry(table), openSandbox: async () => undefined, closeSandbox: async () => undefined } as unknown as SandboxDns;
  const lbs = new LoadBalancers(fakePlane, fakeVip, () => undefined);
  const redirects: unknown[] = [];
  const fakeRedirect = async (_ns: string, r: readonly unknown[]) => void redirects.push(...r);
  const net = new NetworkController({ plane: fakePlane, dns, lbs, redirect: fakeRedirect }, { log: () => undefined, reconcileIntervalMs: 0 });
  const backends = async (id = NET) => {
    await net.settled();
    return applied.get(`/ns/${id}`)?.services.map((s) => ({ key: s.key, vip: s.vip, ports: s.ports, backends: s.backends }));
  };
  return { net, lbs, backends, lbAddresses, applied, redirects };
}

const nodeAttachment = (n: ReturnType<typeof network>, address: string) => {
  const tn: TaskNetwork = { id: n.id, name: n.spec.annotations.name, driver: 'overlay', driverOptions: n.driver_state.options, ingress: n.spec.ingress, subnet: n.ipam.configs[0]!.subnet, gateway: n.ipam.configs[0]!.gateway };
  return { network: tn, addresses: [`${address}/24`] };
};

test('lbServices groups by service, merges ports, keeps one backend per address with the highest weight', (t) => {
  const s = lbServices([
    { serviceId: 'b', ip: '10.0.0.9', weight: 1, vip: '10.0.0.2', ports: [] },
    { serviceId: 'a', ip: '10.0.0.4', weight: 0, ports: [{ protocol: 'tcp', port: 80 }] },
    { serviceId: 'a', ip: '10.0.0.4', weight: 1, ports: [{ protocol: 'udp', port: 53 }] },
    { serviceId: 'a', ip: '10.0.0.3', weight: 1, ports: [{ protocol: 'tcp', port: 80 }] },
    { serviceId: 'dnsrr', ip: '10.0.0.7', weight: 1, ports: [] },
  ]);
  t.deepEqual(s, [
    { key: 'a', ports: [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 53 }], backends: [{ ip: '10.0.0.3', weight: 1 }, { ip: '10.0.0.4', weight: 1 }] },
    { key: 'b', vip: '10.0.0.2', ports: [], backends: [{ ip: '10.0.0.9', weight: 1 }] },
  ]);
});

test('no LB address from the manager: nothing balances; with one, local and remote backends share the VIP', async (t) => {
  const { net, backends, lbAddresses } = setup();
  await net.attach(task('t1', '10.9.0.5'), '/proc/1/ns/net', { healthy: true });
  t.is(await backends(), undefined, 'no Node.Attachments yet');
  await net.setNodeAttachments([nodeAttachment(network(NET), '10.9.0.3')]);
  t.deepEqual(await backends(), [{ key: 'svc-web', vip: '10.9.0.2', ports: [], backends: [{ ip: '10.9.0.5', weight: 1 }] }]);
  t.deepEqual(lbAddresses.get(NET), { sourceAddress: '10.9.0.3', vips: ['10.9.0.2'] });
  net.setRemote(NET, 'k-remote', { name: 'web.2.x', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', endpointIp: '10.9.0.7', aliases: [], taskAliases: [], serviceDisabled: false });
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.5', weight: 1 }, { ip: '10.9.0.7', weight: 1 }]);
  // Another node's entry that says disabled drains; deleted, it is gone.
  net.setRemote(NET, 'k-remote', { name: 'web.2.x', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', endpointIp: '10.9.0.7', aliases: [], taskAliases: [], serviceDisabled: true });
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.5', weight: 1 }, { ip: '10.9.0.7', weight: 0 }]);
  net.removeRemote(NET, 'k-remote');
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.5', weight: 1 }]);
});

test('a local task: unhealthy leaves at once, healthy comes back, shutdown drains, detach removes', async (t) => {
  const { net, backends, applied } = setup();
  await net.setNodeAttachments([nodeAttachment(network(NET), '10.9.0.3')]);
  await net.attach(task('t1', '10.9.0.5'), '/proc/1/ns/net', { healthy: false });
  await net.attach(task('t2', '10.9.0.6'), '/proc/1/ns/net', { healthy: true });
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.6', weight: 1 }], 'a task with a healthcheck joins once healthy');
  net.setHealthy('t1', true);
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.5', weight: 1 }, { ip: '10.9.0.6', weight: 1 }]);
  net.setHealthy('t1', false);
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.6', weight: 1 }]);
  // Shutdown's first step resolves only once the draining weight is applied.
  const drained = net.unpublish('t2', { drain: true }).then(() => applied.get(`/ns/${NET}`)?.services[0]?.backends);
  t.deepEqual(await drained, [{ ip: '10.9.0.6', weight: 0 }], 'draining: no new connections, established ones finish');
  await net.detach('t2');
  t.is(await backends(), undefined, 'no backend left: the load balancer is removed');
});

test('routing mesh: a task with an ingress port backs the ingress load balancer on its published port', async (t) => {
  const { net, backends, redirects } = setup();
  await net.setNodeAttachments([nodeAttachment(network(NET), '10.9.0.3'), nodeAttachment(network(INGRESS, true), '10.0.0.3')]);
  await net.attach(task('t1', '10.9.0.5', { ingressAddress: '10.0.0.8', ports: [{ protocol: 0, target_port: 80, published_port: 8080, publish_mode: 0 }] }), '/proc/1/ns/net', { healthy: true });
  t.deepEqual(await backends(INGRESS), [{ key: 'svc-web', vip: '10.0.0.5', ports: [{ protocol: 'tcp', port: 8080 }], backends: [{ ip: '10.0.0.8', weight: 1 }] }]);
  t.deepEqual((await backends(NET))?.[0]?.ports, [], 'ports only on the ingress network');
  t.deepEqual(redirects, [{ address: '10.0.0.8', protocol: 'tcp', port: 8080, targetPort: 80 }], 'inside the sandbox, the published port goes to the target port');
});

test('refused before anything is plumbed: an encrypted network, an unknown protocol, a port published twice', async (t) => {
  const { net } = setup();
  await t.throwsAsync(net.attach(task('t1', '10.9.0.5', { netOptions: { encrypted: '' } }), '/proc/1/ns/net', { healthy: true }), { code: 'E_ENCRYPTED_UNSUPPORTED', message: /network appnet is encrypted/ });
  await t.throwsAsync(net.attach(task('t2', '10.9.0.6', { ports: [{ protocol: 7, target_port: 80, published_port: 8080, publish_mode: 0 }] }), '/proc/1/ns/net', { healthy: true }), { code: 'E_INVALID_PORT', message: /8080:80\/unknown\(7\).*unknown protocol/ });
  await t.throwsAsync(
    net.attach(task('t3', '10.9.0.7', { ports: [{ protocol: 0, target_port: 80, published_port: 8080, publish_mode: 0 }, { protocol: 0, target_port: 81, published_port: 8080, publish_mode: 0 }] }), '/proc/1/ns/net', { healthy: true }),
    { code: 'E_PORT_CONFLICT', message: /port 8080\/tcp is published twice/ },
  );
});

test('status reports what the last apply put in the kernel, and reading it changes nothing', async (t) => {
  const { net, lbs, backends, applied } = setup();
  await net.setNodeAttachments([nodeAttachment(network(NET), '10.9.0.3')]);
  await net.attach(task('t1', '10.9.0.5'), '/proc/1/ns/net', { healthy: true });
  await backends();
  const lbStatus = () => lbs.status().networks.find((n) => n.id === NET);
  t.like(lbStatus(), { services: 1, backends: 1 });
  // A remote backend arrives; until its apply ran, status still says what the kernel has.
  net.setRemote(NET, 'k-remote', { name: 'web.2.x', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', endpointIp: '10.9.0.7', aliases: [], taskAliases: [], serviceDisabled: false });
  t.like(lbStatus(), { services: 1, backends: 1 }, 'not yet applied');
  const specsBefore = applied.size;
  t.deepEqual((await backends())?.[0]?.backends, [{ ip: '10.9.0.5', weight: 1 }, { ip: '10.9.0.7', weight: 1 }]);
  t.is(applied.size, specsBefore);
  t.like(lbStatus(), { services: 1, backends: 2 });
});
