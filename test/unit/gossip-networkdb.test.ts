// NetworkDb without sockets: messages are fed through the MemberlistDelegate entry points
// (notifyMsg, mergeRemoteState, localState) and what it sends is recorded by FakeMemberlist, a
// stand-in for gossip/memberlist.ts. Rules from docs/research/networkdb-gossip-facts.md §3–5.
import test from 'ava';
import type { Endpoint } from '../../netd/types.js';
import type { MemberState, Memberlist } from '../../netd/gossip/memberlist.js';
import {
  EventType,
  MessageType,
  TableEventType,
  bulkSync,
  compound,
  decodeBulkSync,
  decodeCompound,
  decodeGossip,
  decodeNetworkEvent,
  decodePushPull,
  decodeTableEvent,
  networkEvent,
  peerRecord,
  pushPull,
  tableEvent,
  type TableEvent,
} from '../../netd/gossip/messages.js';
import { NetworkDb, OVERLAY_PEER_TABLE, type NetworkDbOptions } from '../../netd/gossip/networkdb.js';

const ME = 'me0000000000';
const NET = 'net-one';
const OTHER_NET = 'net-two';
/** No timers, no settle window: every change is delivered at once, every send is the call's own. */
const QUIET: NetworkDbOptions = { settleMs: 0, gossipIntervalMs: 0, reapPeriodMs: 0, bulkSyncIntervalMs: 0, bulkSyncWaitMs: 20 };

/** Records what NetworkDb asks of memberlist; no sockets. */
class FakeMemberlist {
  readonly members = new Map<string, MemberState>();
  readonly bestEffort: Array<{ to: string; msg: Buffer }> = [];
  readonly reliable: Array<{ to: string; msg: Buffer }> = [];
  readonly pushPulls: Array<{ address: string; port: number; join: boolean }> = [];

  constructor(names: string[]) {
    names.forEach((name, i) => this.members.set(name, { name, address: `10.9.0.${i + 2}`, port: 7946, incarnation: 1, state: 0 }));
  }

  alive(): MemberState[] {
    return [...this.members.values()].filter((m) => m.state === 0);
  }

  member(name: string): MemberState | undefined {
    return this.members.get(name);
  }

  sendBestEffort(m: MemberState, msg: Uint8Array): void {
    this.bestEffort.push({ to: m.name, msg: Buffer.from(msg) });
  }

  async sendReliable(m: MemberState, msg: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.reliable.push({ to: m.name, msg: Buffer.concat(msg instanceof Uint8Array ? [msg] : msg) });
  }

  async pushPull(address: string, port: number, join: boolean): Promise<void> {
    this.pushPulls.push({ address, port, join });
  }
}

interface Ctx {
  db: NetworkDb;
  fake: FakeMemberlist;
  added: Endpoint[];
  removed: Endpoint[];
}

/** Our db on `join`; peer1 is on NET (table events are taken only from a network's members). */
async function setup(opts: { join?: string[]; members?: string[] } = {}): Promise<Ctx> {
  const db = new NetworkDb(ME, undefined, QUIET);
  const fake = new FakeMemberlist(opts.members ?? ['peer1', 'peer2']);
  db.attach(fake as unknown as Memberlist);
  const added: Endpoint[] = [];
  const removed: Endpoint[] = [];
  db.on('endpoint-added', (e) => added.push(e));
  db.on('endpoint-removed', (e) => removed.push(e));
  for (const n of opts.join ?? [NET]) await db.joinNetwork(n);
  joinEvent(db, 'peer1', 1n);
  return { db, fake, added, removed };
}

const record = (ip: string, vtep: string, mac = '02:42:0a:00:01:05') => peerRecord({ endpointIp: ip, endpointMac: mac, tunnelEndpointIp: vtep });

function te(p: Partial<TableEvent> & { lTime: bigint }): TableEvent {
  return { type: TableEventType.CREATE, nodeName: 'peer1', networkId: NET, tableName: OVERLAY_PEER_TABLE, key: 'ep1', value: record('10.0.1.5/24', '192.168.1.2'), residualReapTime: 0, ...p };
}

/** A remote node's table gossip, framed as Docker sends it: a compound of table events. */
const gossipTable = (db: NetworkDb, ...events: TableEvent[]) => db.notifyMsg(compound(events.map(tableEvent)));
const joinEvent = (db: NetworkDb, node: string, lTime: bigint, network = NET, type: number = EventType.JOIN) => db.notifyMsg(networkEvent({ type, lTime, nodeName: node, networkId: network }));

/** Table events inside a best-effort message (a compound of them). */
function tableEventsIn(msg: Buffer): TableEvent[] {
  const g = decodeGossip(msg);
  if (g.type === MessageType.TABLE_EVENT) return [decodeTableEvent(g.data)];
  if (g.type !== MessageType.COMPOUND) return [];
  return decodeCompound(g.data).flatMap(tableEventsIn);
}

test('a table event for a joined network gives endpoint-added: ip without mask, mac, vtep', async (t) => {
  const { db, added, removed } = await setup();
  joinEvent(db, 'peer1', 1n);
  gossipTable(db, te({ lTime: 3n }));
  t.deepEqual(added, [{ network: NET, ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: '192.168.1.2', id: 'ep1' }]);
  t.deepEqual(removed, []);
  t.deepEqual([...db.endpoints(NET)], added);
  t.deepEqual([...db.endpoints(OTHER_NET)], []);
  t.is(db.stats().tableEventsIn, 1);
  // A bare TABLE_EVENT (not in a compound) is taken as well.
  db.notifyMsg(tableEvent(te({ lTime: 4n, key: 'ep2', value: record('10.0.1.6/24', '192.168.1.3', '') })));
  t.deepEqual(added[1], { network: NET, ip: '10.0.1.6', mac: undefined, vtep: '192.168.1.3', id: 'ep2' });
});

test('a DELETE gives endpoint-removed and the endpoint leaves endpoints()', async (t) => {
  const { db, added, removed } = await setup();
  gossipTable(db, te({ lTime: 3n }));
  gossipTable(db, te({ lTime: 4n, type: TableEventType.DELETE, residualReapTime: 1800 }));
  t.is(added.length, 1);
  t.deepEqual(removed, [{ network: NET, ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: '192.168.1.2', id: 'ep1' }]);
  t.deepEqual([...db.endpoints(NET)], []);
  // A second delete (retransmit) changes nothing.
  gossipTable(db, te({ lTime: 5n, type: TableEventType.DELETE, residualReapTime: 1800 }));
  t.is(removed.length, 1);
});

test('an update of an entry replaces the endpoint (removed, then added)', async (t) => {
  const { db, added, removed } = await setup();
  gossipTable(db, te({ lTime: 3n }));
  gossipTable(db, te({ lTime: 4n, value: record('10.0.1.9/24', '192.168.1.2') }));
  t.deepEqual(
    removed.map((e) => e.ip),
    ['10.0.1.5'],
  );
  t.deepEqual(
    added.map((e) => e.ip),
    ['10.0.1.5', '10.0.1.9'],
  );
  // The same value again at a newer time: no churn.
  gossipTable(db, te({ lTime: 5n, value: record('10.0.1.9/24', '192.168.1.2') }));
  t.is(added.length, 2);
  t.is(removed.length, 1);
});

test('table events with an older or equal l_time are ignored', async (t) => {
  const { db, added, removed } = await setup();
  gossipTable(db, te({ lTime: 10n }));
  gossipTable(db, te({ lTime: 10n, value: record('10.0.1.7/24', '192.168.1.2') }));
  gossipTable(db, te({ lTime: 9n, value: record('10.0.1.8/24', '192.168.1.2') }));
  gossipTable(db, te({ lTime: 10n, type: TableEventType.DELETE }));
  gossipTable(db, te({ lTime: 2n, type: TableEventType.DELETE }));
  t.is(added.length, 1);
  t.is(removed.length, 0);
  t.deepEqual(
    [...db.endpoints(NET)].map((e) => e.ip),
    ['10.0.1.5'],
  );
  t.is(db.stats().tableEventsIn, 1);
});

test('a DELETE for an unknown key is kept as a tombstone: an older CREATE arriving after it is refused', async (t) => {
  // libnetwork ignores it; berth keeps it so a reordered or retransmitted CREATE cannot bring
  // back an entry already deleted.
  const { db, added, removed } = await setup();
  gossipTable(db, te({ lTime: 5n, type: TableEventType.DELETE }));
  gossipTable(db, te({ lTime: 4n }));
  t.is(removed.length, 0);
  t.is(added.length, 0);
  t.deepEqual(db.stats().tables[OVERLAY_PEER_TABLE], { live: 0, tombstones: 1 });
  // A newer CREATE (the key published again) is taken.
  gossipTable(db, te({ lTime: 6n }));
  t.is(added.length, 1);
});

test('table events from a node not on the network are dropped (notMember)', async (t) => {
  const { db, added } = await setup();
  gossipTable(db, te({ lTime: 3n, nodeName: 'peer2', key: 'ep9' }));
  t.deepEqual(added, []);
  t.is(db.stats().drops.notMember, 1);
  joinEvent(db, 'peer2', 2n);
  gossipTable(db, te({ lTime: 4n, nodeName: 'peer2', key: 'ep9' }));
  t.is(added.length, 1);
});

test('table events for networks we have not joined (or left) are ignored', async (t) => {
  const { db, added } = await setup();
  gossipTable(db, te({ lTime: 3n, networkId: OTHER_NET }));
  t.deepEqual(added, []);
  t.deepEqual([...db.endpoints(OTHER_NET)], []);
  await db.leaveNetwork(NET);
  gossipTable(db, te({ lTime: 4n }));
  t.deepEqual(added, []);
  t.is(db.stats().networks, 0);
  t.is(db.stats().drops.unknownNetwork, 2);
});

test("a node's NETWORK LEAVE removes its endpoints on that network only", async (t) => {
  const { db, added, removed } = await setup({ join: [NET, OTHER_NET] });
  joinEvent(db, 'peer1', 2n, OTHER_NET);
  joinEvent(db, 'peer2', 1n);
  gossipTable(db, te({ lTime: 3n }), te({ lTime: 4n, key: 'ep2', nodeName: 'peer2', value: record('10.0.1.6/24', '192.168.1.3') }), te({ lTime: 5n, key: 'ep3', networkId: OTHER_NET, value: record('10.0.2.5/24', '192.168.1.2') }));
  t.is(added.length, 3);
  t.is(db.peersOn(NET).length, 2);
  joinEvent(db, 'peer1', 6n, NET, EventType.LEAVE);
  t.deepEqual(
    removed.map((e) => e.id),
    ['ep1'],
  );
  t.deepEqual(
    [...db.endpoints(NET)].map((e) => e.id),
    ['ep2'],
  );
  t.deepEqual(
    [...db.endpoints(OTHER_NET)].map((e) => e.id),
    ['ep3'],
  );
  t.deepEqual(
    db.peersOn(NET).map((m) => m.name),
    ['peer2'],
  );
  // An older JOIN arriving late does not bring it back.
  joinEvent(db, 'peer1', 5n);
  t.deepEqual(
    db.peersOn(NET).map((m) => m.name),
    ['peer2'],
  );
});

test('our own table and network events are ignored', async (t) => {
  const { db, added } = await setup();
  gossipTable(db, te({ lTime: 3n, nodeName: ME }));
  t.deepEqual(added, []);
  t.deepEqual([...db.endpoints(NET)], []);
  // Somebody relaying an old LEAVE of ours does not take us off the network.
  joinEvent(db, ME, 100n, NET, EventType.LEAVE);
  t.is(db.stats().networks, 1);
  gossipTable(db, te({ lTime: 4n }));
  t.is(added.length, 1);
  // Our own entries never show up as remote endpoints.
  db.publishPeer(NET, 'mine', { ip: '10.0.1.20', prefixLength: 24, mac: '02:42:0a:00:01:14', vtep: '192.168.1.1' });
  t.deepEqual(
    [...db.endpoints(NET)].map((e) => e.id),
    ['ep1'],
  );
});

test('an unsolicited BULK_SYNC is answered to its sender with our entries, unsolicited=false', async (t) => {
  const { db, fake, added } = await setup();
  joinEvent(db, 'peer1', 1n);
  db.publishPeer(NET, 'mine', { ip: '10.0.1.20', prefixLength: 24, mac: '02:42:0a:00:01:14', vtep: '192.168.1.1' });
  fake.reliable.length = 0;
  const payload = compound([tableEvent(te({ lTime: 7n }))]);
  db.notifyMsg(bulkSync({ lTime: 8n, unsolicited: true, nodeName: 'peer1', networks: [NET], payload }));
  await new Promise((r) => setImmediate(r));
  // The payload was applied (bulk sync entries count like gossip).
  t.deepEqual(
    added.map((e) => e.id),
    ['ep1'],
  );
  t.is(fake.reliable.length, 1);
  t.is(fake.reliable[0]!.to, 'peer1');
  const g = decodeGossip(fake.reliable[0]!.msg);
  t.is(g.type, MessageType.BULK_SYNC);
  const b = decodeBulkSync(g.data);
  t.false(b.unsolicited);
  t.is(b.nodeName, ME);
  t.deepEqual(b.networks, [NET]);
  t.true(b.lTime > 8n, 'our table clock witnessed the bulk sync l_time');
  const entries = tableEventsIn(b.payload);
  const mine = entries.find((e) => e.key === 'mine');
  t.truthy(mine);
  t.is(mine!.nodeName, ME);
  t.is(mine!.type, TableEventType.CREATE);
  t.is(mine!.tableName, OVERLAY_PEER_TABLE);
  t.truthy(entries.find((e) => e.key === 'ep1' && e.nodeName === 'peer1'), 'the whole network is sent, others’ entries too');
  t.is(db.stats().bulkSyncsIn, 1);
  t.is(db.stats().bulkSyncsOut, 1);

  // A solicited one (an answer) is not answered.
  db.notifyMsg(bulkSync({ lTime: 9n, unsolicited: false, nodeName: 'peer1', networks: [NET], payload: Buffer.alloc(0) }));
  await new Promise((r) => setImmediate(r));
  t.is(fake.reliable.length, 1);
});

test('an unsolicited BULK_SYNC is answered even before the sender’s network JOIN arrived', async (t) => {
  // Docker's JoinNetwork queues its JOIN as piggybacked gossip and sends the bulk sync at once
  // over TCP, then waits up to 30 s for the answer.
  const { db, fake } = await setup();
  db.publishPeer(NET, 'mine', { ip: '10.0.1.20', prefixLength: 24, mac: '02:42:0a:00:01:14', vtep: '192.168.1.1' });
  db.notifyMsg(bulkSync({ lTime: 1n, unsolicited: true, nodeName: 'peer2', networks: [NET], payload: Buffer.alloc(0) }));
  await new Promise((r) => setImmediate(r));
  t.deepEqual(
    fake.reliable.map((r) => r.to),
    ['peer2'],
  );
  t.deepEqual(
    tableEventsIn(decodeBulkSync(decodeGossip(fake.reliable[0]!.msg).data).payload).map((e) => e.key),
    ['mine'],
  );
  // Not answered to a node memberlist does not know.
  db.notifyMsg(bulkSync({ lTime: 2n, unsolicited: true, nodeName: 'stranger', networks: [NET], payload: Buffer.alloc(0) }));
  await new Promise((r) => setImmediate(r));
  t.is(fake.reliable.length, 1);
});

test('a DELETE in a bulk sync for an unknown key is kept (tombstone)', async (t) => {
  const { db, added } = await setup();
  db.notifyMsg(bulkSync({ lTime: 1n, unsolicited: false, nodeName: 'peer1', networks: [NET], payload: compound([tableEvent(te({ lTime: 5n, type: TableEventType.DELETE, residualReapTime: 1800 }))]) }));
  gossipTable(db, te({ lTime: 4n }));
  t.deepEqual(added, [], 'the older create loses to the remembered delete');
  t.is(db.stats().entries, 1);
});

test('localState(join) reports our memberships with a bumped clock; others’ too', async (t) => {
  const { db } = await setup({ join: [NET, OTHER_NET] });
  joinEvent(db, 'peer1', 1n);
  const before = decodePushPull(decodeGossip(db.localState(false)).data);
  t.is(before.nodeName, ME);
  const mineBefore = before.networks.filter((n) => n.nodeName === ME);
  t.deepEqual(mineBefore.map((n) => n.networkId).sort(), [NET, OTHER_NET].sort());
  t.truthy(before.networks.find((n) => n.nodeName === 'peer1' && n.networkId === NET && !n.leaving));
  t.is(decodePushPull(decodeGossip(db.localState(false)).data).lTime, before.lTime, 'no join: no bump');

  const joined = decodePushPull(decodeGossip(db.localState(true)).data);
  t.is(joined.lTime, before.lTime + 1n);
  for (const n of joined.networks.filter((x) => x.nodeName === ME)) t.is(n.lTime, joined.lTime, n.networkId);
  t.is(joined.networks.find((n) => n.nodeName === 'peer1')!.lTime, 1n, 'other nodes keep their times');

  await db.leaveNetwork(OTHER_NET);
  const left = decodePushPull(decodeGossip(db.localState(false)).data);
  t.true(left.networks.find((n) => n.nodeName === ME && n.networkId === OTHER_NET)!.leaving);
});

test('mergeRemoteState records other nodes’ memberships (peersOn) and witnesses the clock', async (t) => {
  const { db } = await setup({ members: ['peer1', 'peer2', 'peer3'] });
  const state = pushPull({
    lTime: 50n,
    nodeName: 'peer1',
    networks: [
      { networkId: NET, lTime: 40n, nodeName: 'peer1', leaving: false },
      { networkId: NET, lTime: 41n, nodeName: 'peer2', leaving: false },
      { networkId: NET, lTime: 42n, nodeName: 'peer3', leaving: true },
      { networkId: OTHER_NET, lTime: 43n, nodeName: 'peer3', leaving: false },
      { networkId: NET, lTime: 99n, nodeName: ME, leaving: true },
    ],
  });
  db.mergeRemoteState(state, false);
  t.deepEqual(
    db.peersOn(NET)
      .map((m) => m.name)
      .sort(),
    ['peer1', 'peer2'],
  );
  t.deepEqual(
    db.peersOn(OTHER_NET).map((m) => m.name),
    ['peer3'],
  );
  t.is(db.stats().networks, 1, 'an entry about us does not change our membership');
  t.is(decodePushPull(decodeGossip(db.localState(false)).data).lTime, 51n, 'networkClock witnessed 50');
  // Members not alive in memberlist are not peers.
  db.mergeRemoteState(pushPull({ lTime: 1n, nodeName: 'peer1', networks: [{ networkId: NET, lTime: 1n, nodeName: 'ghost', leaving: false }] }), false);
  t.false(db.peersOn(NET).some((m) => m.name === 'ghost'));
  t.is(db.stats().drops.unknownNode, 1, 'a node memberlist does not know is not recorded');
  // Garbage is dropped, not thrown.
  db.mergeRemoteState(Buffer.from([0xff, 0xff]), false);
  t.is(db.stats().drops.malformed, 1);
});

test('joinNetwork: JOIN to every alive member, push-pull to each, then an unsolicited bulk sync to the network’s nodes', async (t) => {
  const db = new NetworkDb(ME, undefined, QUIET);
  const fake = new FakeMemberlist(['peer1', 'peer2']);
  db.attach(fake as unknown as Memberlist);
  db.mergeRemoteState(pushPull({ lTime: 10n, nodeName: 'peer1', networks: [{ networkId: NET, lTime: 5n, nodeName: 'peer1', leaving: false }] }), false);
  await db.joinNetwork(NET);
  const joins = fake.bestEffort.map((m) => ({ to: m.to, e: decodeNetworkEvent(decodeGossip(m.msg).data) }));
  t.deepEqual(
    joins.map((j) => j.to).sort(),
    ['peer1', 'peer2'],
  );
  for (const j of joins) {
    t.is(j.e.type, EventType.JOIN);
    t.is(j.e.nodeName, ME);
    t.is(j.e.networkId, NET);
    t.is(j.e.lTime, 12n, 'networkClock witnessed 10 (→11), then incremented');
  }
  t.deepEqual(
    fake.pushPulls.map((p) => p.join),
    [false, false],
  );
  t.deepEqual(
    fake.reliable.map((r) => r.to),
    ['peer1'],
  );
  t.true(decodeBulkSync(decodeGossip(fake.reliable[0]!.msg).data).unsolicited);
  // A second join is a no-op.
  await db.joinNetwork(NET);
  t.is(fake.bestEffort.length, 2);
});

test('createEntry / deleteEntry: table events to the network’s peers; a delete carries the old value and reap time 1800', async (t) => {
  const { db, fake } = await setup({ members: ['peer1', 'peer2'] });
  joinEvent(db, 'peer1', 1n);
  fake.bestEffort.length = 0;
  db.publishPeer(NET, 'mine', { ip: '10.0.1.20', prefixLength: 24, mac: '02:42:0a:00:01:14', vtep: '192.168.1.1' });
  t.deepEqual(
    fake.bestEffort.map((m) => m.to),
    ['peer1'],
    'only nodes on the network',
  );
  t.is(decodeGossip(fake.bestEffort[0]!.msg).type, MessageType.COMPOUND, 'table events go in a compound, as Docker sends them');
  const [created] = tableEventsIn(fake.bestEffort[0]!.msg);
  t.is(created!.type, TableEventType.CREATE);
  t.is(created!.residualReapTime, 0);
  t.deepEqual(created!.value, record('10.0.1.20/24', '192.168.1.1', '02:42:0a:00:01:14'));

  fake.bestEffort.length = 0;
  db.deleteEntry(NET, OVERLAY_PEER_TABLE, 'mine');
  const [deleted] = tableEventsIn(fake.bestEffort[0]!.msg);
  t.is(deleted!.type, TableEventType.DELETE);
  t.is(deleted!.residualReapTime, 1800);
  t.is(deleted!.nodeName, ME);
  t.is(deleted!.key, 'mine');
  t.deepEqual(deleted!.value, created!.value, 'the old value goes with the delete');
  t.true(deleted!.lTime > created!.lTime);
  // Deleting again, or somebody else's key, sends nothing.
  fake.bestEffort.length = 0;
  db.deleteEntry(NET, OVERLAY_PEER_TABLE, 'mine');
  db.deleteEntry(NET, OVERLAY_PEER_TABLE, 'nope');
  t.is(fake.bestEffort.length, 0);
});

test('Lamport clocks witness received times (table and network clocks apart)', async (t) => {
  const { db, fake } = await setup();
  joinEvent(db, 'peer1', 1n);
  gossipTable(db, te({ lTime: 100n }));
  fake.bestEffort.length = 0;
  db.createEntry(NET, 'some_table', 'k', Buffer.from('v'));
  t.is(tableEventsIn(fake.bestEffort[0]!.msg)[0]!.lTime, 102n, 'Witness(100) → 101, Increment → 102');
  // Our own old event relayed back is still witnessed, as serf's clock does.
  gossipTable(db, te({ lTime: 500n, nodeName: ME, key: 'x' }));
  fake.bestEffort.length = 0;
  db.createEntry(NET, 'some_table', 'k2', Buffer.from('v'));
  t.is(tableEventsIn(fake.bestEffort[0]!.msg)[0]!.lTime, 502n);
  // A bulk sync's l_time too.
  db.notifyMsg(bulkSync({ lTime: 900n, unsolicited: false, nodeName: 'peer1', networks: [NET], payload: Buffer.alloc(0) }));
  fake.bestEffort.length = 0;
  db.createEntry(NET, 'some_table', 'k3', Buffer.from('v'));
  t.is(tableEventsIn(fake.bestEffort[0]!.msg)[0]!.lTime, 902n);
  // Network events move the network clock, not the table clock.
  joinEvent(db, 'peer2', 70n);
  fake.bestEffort.length = 0;
  await db.joinNetwork(OTHER_NET);
  const join = fake.bestEffort.map((m) => decodeGossip(m.msg)).find((g) => g.type === MessageType.NETWORK_EVENT)!;
  t.is(decodeNetworkEvent(join.data).lTime, 72n);
});

test('a member that dies takes its memberships and endpoints with it', async (t) => {
  const { db, fake, removed } = await setup();
  joinEvent(db, 'peer1', 1n);
  gossipTable(db, te({ lTime: 3n }));
  const dead = { ...fake.members.get('peer1')!, state: 2 };
  fake.members.set('peer1', dead);
  db.notifyMember(dead);
  t.deepEqual(
    removed.map((e) => e.id),
    ['ep1'],
  );
  t.deepEqual([...db.endpoints(NET)], []);
  t.deepEqual(db.peersOn(NET), []);
  // Alive notifications change nothing.
  db.notifyMember(fake.members.get('peer2')!);
  t.is(removed.length, 1);
});

test('malformed messages are dropped and counted, not thrown', async (t) => {
  const { db } = await setup();
  t.notThrows(() => db.notifyMsg(Buffer.from([0x0a, 0xff])));
  t.notThrows(() => db.notifyMsg(compound([Buffer.from([0x12, 0x05])])));
  t.is(db.stats().drops.malformed, 2);
});

test('our bulk syncs send the entries as they are at each sync: an unchanged network’s payload is sent again as it was, any change is in the next one', async (t) => {
  const { db, fake } = await setup();
  let asked = 10n;
  /** peer1 asks (an unsolicited sync, nothing in it); our answer's payload. */
  const answer = async (): Promise<Buffer> => {
    fake.reliable.length = 0;
    db.notifyMsg(bulkSync({ lTime: asked++, unsolicited: true, nodeName: 'peer1', networks: [NET], payload: Buffer.alloc(0) }));
    await new Promise((r) => setImmediate(r));
    t.is(fake.reliable.length, 1);
    return decodeBulkSync(decodeGossip(fake.reliable[0]!.msg).data).payload;
  };
  const entries = (payload: Buffer) =>
    tableEventsIn(payload)
      .map((e) => `${e.key} ${e.type} ${e.nodeName} ${e.value.toString('hex')}`)
      .sort();
  const value = (s: string) => Buffer.from(s);

  db.createEntry(NET, 'endpoint_table', 'mine', value('v1'));
  const first = await answer();
  t.deepEqual(entries(first), [`mine ${TableEventType.CREATE} ${ME} ${value('v1').toString('hex')}`]);
  t.deepEqual(await answer(), first, 'nothing changed: the same bytes');

  gossipTable(db, te({ lTime: 3n }));
  t.deepEqual(entries(await answer()), [`ep1 ${TableEventType.CREATE} peer1 ${te({ lTime: 3n }).value.toString('hex')}`, `mine ${TableEventType.CREATE} ${ME} ${value('v1').toString('hex')}`]);

  db.updateEntry(NET, 'endpoint_table', 'mine', value('v2'));
  t.true(entries(await answer()).includes(`mine ${TableEventType.CREATE} ${ME} ${value('v2').toString('hex')}`), 'an update of ours');

  gossipTable(db, te({ lTime: 4n, value: record('10.0.1.9/24', '192.168.1.2') }));
  t.true(entries(await answer()).includes(`ep1 ${TableEventType.CREATE} peer1 ${record('10.0.1.9/24', '192.168.1.2').toString('hex')}`), 'an update of another node’s');

  db.deleteEntry(NET, 'endpoint_table', 'mine');
  const withTombstone = await answer();
  t.true(entries(withTombstone).includes(`mine ${TableEventType.DELETE} ${ME} ${value('v2').toString('hex')}`), 'our delete, as a tombstone');

  fake.members.get('peer1')!.state = 2;
  db.notifyMember(fake.members.get('peer1')!);
  fake.members.get('peer1')!.state = 0;
  const afterDeath = entries(await answer());
  t.false(
    afterDeath.some((e) => e.startsWith('ep1 ')),
    'a dead node’s entries are gone from the next sync',
  );
});

test('a bulk sync payload already applied, sent again onto unchanged state, is not applied again; after any change it is', async (t) => {
  const { db, added, removed } = await setup();
  const sync = (payload: Buffer, lTime: bigint, from = 'peer1') => db.notifyMsg(bulkSync({ lTime, unsolicited: false, nodeName: from, networks: [NET], payload }));
  const payload = compound([tableEvent(te({ lTime: 3n })), tableEvent(te({ lTime: 3n, key: 'ep2', nodeName: 'peer2', value: record('10.0.1.7/24', '192.168.1.3') }))]);
  sync(payload, 20n);
  // peer2 is not on NET yet: its entry is refused.
  t.deepEqual(
    added.map((e) => e.id),
    ['ep1'],
  );
  const stale = db.stats().drops.staleLTime;
  sync(payload, 21n);
  t.is(db.stats().bulkSyncsUnchanged, 1);
  t.is(db.stats().drops.staleLTime, stale, 'not read again');

  // peer2 joins NET: the same payload now brings its entry.
  joinEvent(db, 'peer2', 2n);
  sync(payload, 22n);
  t.is(db.stats().bulkSyncsUnchanged, 1);
  t.deepEqual(
    added.map((e) => e.id),
    ['ep1', 'ep2'],
  );
  sync(payload, 23n);
  t.is(db.stats().bulkSyncsUnchanged, 2);

  // An entry changes (peer1 deletes ep1 by gossip): the payload is read again, and its older
  // CREATE is refused as stale.
  gossipTable(db, te({ lTime: 4n, type: TableEventType.DELETE, residualReapTime: 1800 }));
  t.deepEqual(
    removed.map((e) => e.id),
    ['ep1'],
  );
  sync(payload, 24n);
  t.is(db.stats().bulkSyncsUnchanged, 2);
  t.deepEqual(
    added.map((e) => e.id),
    ['ep1', 'ep2'],
  );

  // Another sender's identical payload is its own.
  sync(payload, 25n, 'peer2');
  t.is(db.stats().bulkSyncsUnchanged, 2);
});

test('what NetworkDb keeps of a message it was handed is its own: the buffer overwritten after the call changes nothing', async (t) => {
  // memberlist hands over a stream's plaintext from its frame pool and reuses it at once.
  const { db, fake, added } = await setup({ members: ['peer1', 'peer2', 'peer3'] });
  const handOver = (msg: Buffer) => {
    db.notifyMsg(msg);
    msg.fill(0xee);
  };
  handOver(networkEvent({ type: EventType.JOIN, lTime: 7n, nodeName: 'peer2', networkId: NET }));
  const events = [te({ lTime: 5n, key: 'ep-sync', value: record('10.0.1.9/24', '192.168.1.2') })];
  handOver(bulkSync({ lTime: 1n, unsolicited: false, nodeName: 'peer1', networks: [NET], payload: compound(events.map(tableEvent)) }));
  handOver(compound([tableEvent(te({ lTime: 6n, key: 'ep-gossip', value: record('10.0.1.10/24', '192.168.1.2') }))]));
  t.deepEqual(
    added.map((e) => e.ip),
    ['10.0.1.9', '10.0.1.10'],
  );
  t.deepEqual(
    db.liveEntries(OVERLAY_PEER_TABLE).map((e) => [e.key, e.value.equals(record(e.key === 'ep-sync' ? '10.0.1.9/24' : '10.0.1.10/24', '192.168.1.2'))]),
    [
      ['ep-sync', true],
      ['ep-gossip', true],
    ],
    'entries hold their own values',
  );
  fake.bestEffort.length = 0;
  db.gossipRound();
  const regossiped = fake.bestEffort.flatMap((s) => tableEventsIn(s.msg)).map((e) => e.key);
  t.true(regossiped.includes('ep-sync') && regossiped.includes('ep-gossip'), `both table events gossiped on intact (${regossiped.join(', ')})`);
  const joins = fake.bestEffort
    .map((s) => decodeGossip(s.msg))
    .flatMap((g) => (g.type === MessageType.NETWORK_EVENT ? [decodeNetworkEvent(g.data)] : g.type === MessageType.COMPOUND ? decodeCompound(g.data).map(decodeGossip).filter((p) => p.type === MessageType.NETWORK_EVENT).map((p) => decodeNetworkEvent(p.data)) : []));
  t.true(
    joins.some((e) => e.nodeName === 'peer2' && e.networkId === NET),
    "peer2's JOIN gossiped on intact",
  );
});
