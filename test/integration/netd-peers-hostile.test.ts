// Another node's overlay_peer_table entry that is not a valid endpoint (an IPv6 address, as a
// dual-stack Docker node may announce; a bad MAC) is dropped alone and counted: it never
// blocks a local task's attach, never keeps the network's valid entries from being
// programmed, and never stops the delivery of the events after it. Real kernel: one namespace
// host, the overlay plane, an in-memory ClusterTables standing in for the gossip.
import { EventEmitter } from 'node:events';
import test from 'ava';
import { OverlayDataPlane } from '../../netd/overlay/index.js';
import type { ClusterTables, Endpoint, EndpointEvent } from '../../netd/types.js';
import { run } from '../../scripts/lib/exec.js';
import { createHosts, createNetns } from '../../scripts/lib/hosts.js';

const NET = { id: 'hostile00000000000001', name: 'hostile', vni: 4301, subnet: '10.46.0.0/24', gateway: '10.46.0.1' };
const REMOTE_VTEP = '10.77.0.99';

class MemoryTables extends EventEmitter implements ClusterTables {
  readonly entries: Endpoint[] = [];
  override on(event: EndpointEvent, fn: (e: Endpoint) => void): this {
    return super.on(event, fn);
  }
  override off(event: EndpointEvent, fn: (e: Endpoint) => void): this {
    return super.off(event, fn);
  }
  endpoints(network: string): Iterable<Endpoint> {
    return this.entries.filter((e) => e.network === network);
  }
  add(e: Endpoint): void {
    this.entries.push(e);
    this.emit('endpoint-added', e);
  }
}

const remote = (ip: string, extra: Partial<Endpoint> = {}): Endpoint => ({ network: NET.id, ip, vtep: REMOTE_VTEP, ...extra });

test('a bad entry from another node is dropped alone: the local attach and the valid entries go through', async (t) => {
  const underlay = await createHosts(1);
  t.teardown(() => underlay.destroy());
  const host = underlay.hosts[0]!;
  const plane = await OverlayDataPlane.open({ advertiseAddress: host.address, hostNetns: host.netnsPath, netnsDir: '/var/run/netns', namePrefix: `${host.name}-`, gateway: false });
  t.teardown(() => plane.close());
  const tables = new MemoryTables();
  // Before the network exists here: a valid entry, an IPv6 one and one with a bad MAC.
  tables.add(remote('10.46.0.7'));
  tables.add(remote('fd00::7'));
  tables.add(remote('10.46.0.8', { mac: 'not-a-mac' }));
  tables.add(remote('10.46.0.9'));
  plane.watch(tables);

  const sandbox = await createNetns('bh');
  t.teardown(() => sandbox.destroy());
  await t.notThrowsAsync(plane.attachSandbox('task-hostile-1', sandbox.path, [{ networkId: NET.id, network: NET, addresses: ['10.46.0.5/24'], defaultGateway: true }]), 'the local attach is not blocked');
  await plane.settled();
  // Events after the network exists: a bad one, then a good one.
  t.notThrows(() => tables.add(remote('fd00::10')), 'a bad event does not throw into the gossip');
  tables.add(remote('10.46.0.10'));
  await plane.settled();

  const ns = plane.status().networks.find((n) => n.id === NET.id)!;
  t.is(ns.remoteEndpoints, 3, 'the three valid remote endpoints are programmed');
  t.is(plane.status().rejectedEndpoints, 3, 'and the three bad ones counted');
  const neigh = (await run('nsenter', [`--net=${ns.netnsPath}`, 'ip', 'neigh', 'show', 'dev', 'vxlan0'])).stdout;
  for (const ip of ['10.46.0.7', '10.46.0.9', '10.46.0.10']) t.regex(neigh, new RegExp(`${ip.replaceAll('.', '\\.')} lladdr`), ip);
  await plane.detachSandbox('task-hostile-1');
});
