// Other nodes' tasks (from the cluster's endpoint_table) in the name table next to local ones:
// one service record from all of them, tasks.<svc> across nodes, and the service kept while
// any of its tasks — local or remote — is left. netd and the DNS listeners are fakes (named so:
// this is about the table bookkeeping); the publishing side is a recording fake directory.
import test from 'ava';
import { TaskNetworking, type EndpointNames, type PeerDirectory } from '../../agent/networking.js';
import type { Task } from '../../agent/proto/api.js';
import type { EmbeddedDns } from '../../dns/embedded.js';
import { NameTable } from '../../dns/name-table.js';
import { RRType } from '../../dns/wire.js';
import type { OverlayDataPlane } from '../../netd/index.js';

const NET = 'net-app';
const PROBER = 'sb-prober';

function localTask(id: string, ip: string): Task {
  return {
    id,
    service_id: 'svc-web',
    service_annotations: { name: 'web', labels: {} },
    slot: 1,
    node_id: 'node1',
    annotations: { name: '', labels: {} },
    spec: { container: { hostname: '' }, networks: [] },
    endpoint: { spec: { mode: 0 }, ports: [], virtual_ips: [{ network_id: NET, addr: '10.9.0.2/24' }] },
    networks: [{ network: { id: NET, spec: { annotations: { name: 'appnet' }, ingress: false }, driver_state: { name: 'overlay', options: {} }, ipam: { configs: [] } }, addresses: [`${ip}/24`], aliases: ['al'] }],
  } as unknown as Task;
}

const names = (over: Partial<EndpointNames> = {}): EndpointNames => ({ name: 'web.2.remote', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', aliases: [], taskAliases: [], ...over });

function setup() {
  const table = new NameTable({ random: () => 0 });
  const dataPlane = { attachSandbox: async () => undefined, detachSandbox: async () => undefined } as unknown as OverlayDataPlane;
  const dns = {
    table,
    openSandbox: async (id: string, _p: string, networkIds: readonly string[]) => table.setSandbox({ id, networkIds }),
    closeSandbox: async (id: string) => table.removeSandbox(id),
  } as unknown as EmbeddedDns;
  table.setSandbox({ id: PROBER, networkIds: [NET] });
  const published: Array<{ network: string; key: string; names: EndpointNames; ip: string }> = [];
  const withdrawn: string[] = [];
  const fakeDirectory: PeerDirectory = {
    publish: (network, key, ep, n) => published.push({ network, key, names: n, ip: ep.ip }),
    withdraw: (_network, key) => withdrawn.push(key),
  };
  const ask = (name: string) => {
    const r = table.resolve({ name, type: RRType.A }, PROBER);
    return r.kind === 'forward' ? 'forward' : r.answers.map((a) => (a.type === RRType.A ? Array.from(a.address).join('.') : '?')).sort();
  };
  return { net: new TaskNetworking(dataPlane, dns, () => undefined, fakeDirectory), ask, published, withdrawn };
}

test('a local task is announced with its names; a remote one joins tasks.<svc>; the service stays while any task is left', async (t) => {
  const { net, ask, published, withdrawn } = setup();
  const local = localTask('aaa', '10.9.0.5');
  await net.attach(local, '/proc/1/ns/net', { healthy: true });
  t.is(published.length, 1);
  t.like(published[0]!, { network: NET, ip: '10.9.0.5', names: { name: 'web.1.aaa', serviceName: 'web', serviceId: 'svc-web', virtualIp: '10.9.0.2', taskAliases: ['al'] } });

  net.setRemote({ network: NET, key: 'k-remote', ip: '10.9.0.7', disabled: false, names: names() });
  t.deepEqual(ask('tasks.web'), ['10.9.0.5', '10.9.0.7']);
  t.deepEqual(ask('web.2.remote'), ['10.9.0.7']);
  t.deepEqual(ask('web'), ['10.9.0.2']);

  // The last local task goes: the remote one still makes the service.
  net.unpublish(local);
  t.deepEqual(withdrawn, [published[0]!.key]);
  t.deepEqual(ask('tasks.web'), ['10.9.0.7']);
  t.deepEqual(ask('web'), ['10.9.0.2']);
  // A disabled (not healthy) remote task leaves the service's answers but keeps its name.
  net.setRemote({ network: NET, key: 'k-remote', ip: '10.9.0.7', disabled: true, names: names() });
  t.deepEqual(ask('tasks.web'), []);
  t.deepEqual(ask('web.2.remote'), ['10.9.0.7']);
  net.removeRemote('k-remote');
  t.deepEqual(ask('web'), 'forward', 'no task left anywhere: the service is gone');
  t.deepEqual(ask('web.2.remote'), 'forward');
});

test('a remote dnsrr service (no VIP, or "<nil>" as Docker writes it) answers with its tasks', (t) => {
  const { net, ask } = setup();
  net.setRemote({ network: NET, key: 'k1', ip: '10.9.0.21', disabled: false, names: names({ name: 'db.1.x', serviceName: 'db', serviceId: 'svc-db', virtualIp: '<nil>' }) });
  net.setRemote({ network: NET, key: 'k2', ip: '10.9.0.22', disabled: false, names: names({ name: 'db.2.y', serviceName: 'db', serviceId: 'svc-db', virtualIp: '' }) });
  t.deepEqual(ask('db'), ['10.9.0.21', '10.9.0.22']);
  net.removeRemote('k1');
  t.deepEqual(ask('db'), ['10.9.0.22']);
});
