// Several NetworkDb instances wired together in-process through a fake memberlist (Bus): each
// node's best-effort and reliable messages reach the others' notifyMsg on a later tick, a
// push-pull swaps localState/mergeRemoteState, and a test can drop packets or change what one
// node's memberlist says about another. Covers leave, reaping, dead nodes, flap damping, repair
// of lost events by the periodic bulk sync, rebroadcast limits and memory flatness.
import ava from 'ava';
import type { MemberState, Memberlist } from '../../netd/gossip/memberlist.js';
import { MessageType, TableEventType, decodeBulkSync, decodeEndpointRecord, decodeCompound, decodeGossip, decodeTableEvent, endpointRecord, type TableEvent } from '../../netd/gossip/messages.js';
import { ENDPOINT_TABLE, NetworkDb, OVERLAY_PEER_TABLE, retransmitLimit, type NetworkDbOptions, type TableChange } from '../../netd/gossip/networkdb.js';

// One at a time: they run on real (short) timers, and the memory test holds the loop for a while.
const test = ava.serial;
const NET = 'net-one';
const OTHER_NET = 'net-two';

interface Sent {
  from: string;
  to: string;
  msg: Buffer;
  reliable: boolean;
}

class Bus {
  readonly nodes = new Map<string, { db: NetworkDb; ml: BusMember; address: string }>();
  /** Return true to lose a message. */
  drop: (s: Sent) => boolean = () => false;
  readonly log: Sent[] = [];
  keepLog = true;

  add(name: string, opts: NetworkDbOptions = {}): NetworkDb {
    const db = new NetworkDb(name, undefined, { settleMs: 0, gossipIntervalMs: 10, reapPeriodMs: 10, bulkSyncIntervalMs: 0, bulkSyncWaitMs: 200, ...opts });
    const ml = new BusMember(this, name);
    const address = `10.9.0.${this.nodes.size + 2}`;
    this.nodes.set(name, { db, ml, address });
    db.attach(ml as unknown as Memberlist);
    // Everyone learns everyone (memberlist's join), alive.
    for (const [other, n] of this.nodes) {
      if (other === name) continue;
      this.setState(name, other, 0);
      this.setState(other, name, 0);
      void n;
    }
    return db;
  }

  db(name: string): NetworkDb {
    return this.nodes.get(name)!.db;
  }

  /** What `observer`'s memberlist says about `subject`. */
  setState(observer: string, subject: string, state: number): void {
    const o = this.nodes.get(observer)!;
    const m: MemberState = { name: subject, address: this.nodes.get(subject)!.address, port: 7946, incarnation: 1, state };
    o.ml.members.set(subject, m);
    o.db.notifyMember(m);
  }

  deliver(s: Sent): boolean {
    if (this.keepLog) this.log.push(s);
    if (this.drop(s)) return false;
    const to = this.nodes.get(s.to);
    if (!to) return false;
    setImmediate(() => to.db.notifyMsg(s.msg));
    return true;
  }

  close(): void {
    for (const n of this.nodes.values()) n.db.close();
  }
}

class BusMember {
  readonly members = new Map<string, MemberState>();
  constructor(
    private readonly bus: Bus,
    readonly name: string,
  ) {}

  alive(): MemberState[] {
    return [...this.members.values()].filter((m) => m.state === 0);
  }

  member(name: string): MemberState | undefined {
    return this.members.get(name);
  }

  sendBestEffort(m: MemberState, msg: Uint8Array): void {
    this.bus.deliver({ from: this.name, to: m.name, msg: Buffer.from(msg), reliable: false });
  }

  async sendReliable(m: MemberState, msg: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (!this.bus.deliver({ from: this.name, to: m.name, msg: Buffer.concat(msg instanceof Uint8Array ? [msg] : msg), reliable: true })) throw new Error('connection refused');
  }

  async pushPull(address: string, _port: number, join: boolean): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const peer = [...this.bus.nodes.values()].find((n) => n.address === address);
    const me = this.bus.nodes.get(this.name)!;
    if (!peer) throw new Error('no such peer');
    const mine = me.db.localState(join);
    const theirs = peer.db.localState(join);
    peer.db.mergeRemoteState(mine, join);
    me.db.mergeRemoteState(theirs, join);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 2_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}

function record(name: string, ip: string): Buffer {
  return endpointRecord({ name, serviceName: 'web', serviceId: 'svc1', virtualIp: '10.0.1.2', endpointIp: ip, aliases: [], taskAliases: [], serviceDisabled: false });
}

const live = (db: NetworkDb, table = ENDPOINT_TABLE, network = NET) => [...db.entries(network, table)].map((e) => e.key).sort();

function watch(db: NetworkDb, table = ENDPOINT_TABLE): TableChange[] {
  const changes: TableChange[] = [];
  db.watchTable(table, (c) => changes.push(c));
  return changes;
}

/** Table events inside a message (a compound of them, or a bare one). */
function tableEventsIn(msg: Buffer): TableEvent[] {
  const g = decodeGossip(msg);
  if (g.type === MessageType.TABLE_EVENT) return [decodeTableEvent(g.data)];
  if (g.type !== MessageType.COMPOUND) return [];
  return decodeCompound(g.data).flatMap(tableEventsIn);
}

async function pair(opts: NetworkDbOptions = {}): Promise<{ bus: Bus; a: NetworkDb; b: NetworkDb }> {
  const bus = new Bus();
  const a = bus.add('aaaaaaaaaaaa', opts);
  const b = bus.add('bbbbbbbbbbbb', opts);
  await a.joinNetwork(NET);
  await b.joinNetwork(NET);
  return { bus, a, b };
}

test('leaveNetwork: our entries become tombstones, the peer drops them, others’ entries go here; joining again works', async (t) => {
  const { bus, a, b } = await pair();
  const atB = watch(b);
  const atA = watch(a);
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  b.createEntry(NET, ENDPOINT_TABLE, 'b1', record('t2', '10.0.1.6'));
  t.true(await waitFor(() => live(b).length === 1 && live(a).length === 1));

  await a.leaveNetwork(NET);
  t.is(a.stats().networks, 0);
  t.deepEqual(live(a), [], 'b’s entry is gone here');
  t.deepEqual(
    atA.map((c) => `${c.kind} ${c.key}`),
    ['add b1', 'remove b1'],
  );
  t.true(await waitFor(() => live(b).length === 0), 'the peer dropped our entry');
  t.deepEqual(
    atB.map((c) => `${c.kind} ${c.key}`),
    ['add a1', 'remove a1'],
  );
  t.deepEqual(a.stats().tables[ENDPOINT_TABLE], { live: 0, tombstones: 1 }, 'our entry kept as a tombstone, b’s dropped');
  t.deepEqual(
    b.peersOn(NET).map((m) => m.name),
    [],
  );
  // Deleting after the leave is a no-op; a table event for the left network is dropped.
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');

  // Join again: the network's entries come back by bulk sync; ours are taken again by the peer.
  await a.joinNetwork(NET);
  a.createEntry(NET, ENDPOINT_TABLE, 'a2', record('t3', '10.0.1.7'));
  t.true(await waitFor(() => live(a).join() === 'b1' && live(b).join() === 'a2'));
  t.is(a.stats().networks, 1);
  bus.close();
});

test('a leave and a re-join within one settle window: the watcher hears the removal and the entry back', async (t) => {
  // The overlay plane forgets a network it retires; if the leave's removals waited in the
  // settle window and the re-join brought the same entries back, the watcher heard nothing and
  // never programmed the other node's peers again.
  const { bus, a, b } = await pair({ settleMs: 500 });
  const atA = watch(a);
  b.createEntry(NET, ENDPOINT_TABLE, 'b1', record('t2', '10.0.1.6'));
  t.true(await waitFor(() => atA.length === 1, 3_000), 'the add is delivered after the window');
  await a.leaveNetwork(NET);
  t.deepEqual(
    atA.map((c) => `${c.kind} ${c.key}`),
    ['add b1', 'remove b1'],
    'the removal is delivered at the leave, not a window later',
  );
  await a.joinNetwork(NET);
  t.true(await waitFor(() => atA.length === 3, 3_000), 'the entry comes back as a change');
  t.deepEqual(
    atA.map((c) => `${c.kind} ${c.key}`),
    ['add b1', 'remove b1', 'add b1'],
  );
  bus.close();
});

test('tombstones are reaped after reapEntryMs and no longer sent in bulk syncs', async (t) => {
  const { bus, a, b } = await pair({ reapEntryMs: 150 });
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  t.true(await waitFor(() => live(b).length === 1));
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  t.true(await waitFor(() => live(b).length === 0));
  t.deepEqual(a.stats().tables[ENDPOINT_TABLE], { live: 0, tombstones: 1 });
  t.deepEqual(b.stats().tables[ENDPOINT_TABLE], { live: 0, tombstones: 1 });
  t.true(await waitFor(() => a.stats().entries === 0 && b.stats().entries === 0, 1_000), 'both reaped');
  t.deepEqual(a.stats().tables, {});
  t.true(a.stats().reaped >= 1);
  // A bulk sync now carries nothing.
  bus.log.length = 0;
  await a.periodicBulkSync();
  const syncs = bus.log.filter((s) => s.reliable);
  t.true(syncs.length >= 1);
  for (const s of syncs) {
    const g = decodeGossip(s.msg);
    t.is(g.type, MessageType.BULK_SYNC);
  }
  t.deepEqual(
    syncs.flatMap((s) => tableEventsIn(decodeBulkSync(decodeGossip(s.msg).data).payload)),
    [],
  );
  bus.close();
});

test('a dead node’s entries and memberships are removed at once; when it comes back they return', async (t) => {
  const { bus, a, b } = await pair();
  const atB = watch(b);
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  a.publishPeer(NET, 'a1', { ip: '10.0.1.5', prefixLength: 24, mac: '02:42:0a:00:01:05', vtep: '192.168.1.1' });
  t.true(await waitFor(() => live(b).length === 1 && [...b.endpoints(NET)].length === 1));
  const removedPeers: string[] = [];
  b.on('endpoint-removed', (e) => removedPeers.push(e.id ?? ''));

  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 2);
  t.deepEqual(live(b), []);
  t.deepEqual([...b.endpoints(NET)], []);
  t.deepEqual(removedPeers, ['a1'], 'the overlay hears at once');
  t.is(atB.at(-1)?.kind, 'remove');
  t.deepEqual(b.peersOn(NET), []);
  t.is(b.stats().entries, 0, 'removed, not kept: its CREATEs must be taken again');
  t.is(b.stats().nodes.dead, 1);

  // Back (memberlist refuted the death): push-pull + bulk sync bring its memberships and entries.
  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 0);
  t.true(await waitFor(() => live(b).length === 1 && [...b.endpoints(NET)].length === 1));
  t.is(b.stats().nodes.alive, 1);
  bus.close();
});

test('a suspect node stays a member: it still gets table events (a delete is not lost to it)', async (t) => {
  const { bus, a, b } = await pair();
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  t.true(await waitFor(() => live(b).length === 1));
  bus.setState('aaaaaaaaaaaa', 'bbbbbbbbbbbb', 1);
  t.is(a.peersOn(NET).length, 1);
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  t.true(await waitFor(() => live(b).length === 0));
  t.is(b.stats().nodes.alive, 1);
  t.is(a.stats().nodes.suspect, 1);
  bus.close();
});

test('flap damping: create/delete/create within the settle window gives watchers one add; a suspected node none, a dead one once', async (t) => {
  const { bus, a, b } = await pair({ settleMs: 150 });
  const atB = watch(b);
  const added: string[] = [];
  const removed: string[] = [];
  b.on('endpoint-added', (e) => added.push(e.id ?? ''));
  b.on('endpoint-removed', (e) => removed.push(e.id ?? ''));
  const peer = { ip: '10.0.1.5', prefixLength: 24, mac: '02:42:0a:00:01:05', vtep: '192.168.1.1' };
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  a.publishPeer(NET, 'p1', peer);
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  a.deleteEntry(NET, OVERLAY_PEER_TABLE, 'p1');
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  a.publishPeer(NET, 'p1', peer);
  t.true(await waitFor(() => live(b).length === 1));
  t.true(b.stats().pendingChanges > 0, 'held for the settle window');
  t.deepEqual(atB, [], 'nothing delivered yet');
  t.true(await waitFor(() => atB.length > 0));
  await sleep(50);
  t.deepEqual(
    atB.map((c) => `${c.kind} ${c.key}`),
    ['add a1'],
  );
  t.deepEqual(added, ['p1']);

  // The same value published again at a later time: nothing.
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  await sleep(300);
  t.is(atB.length, 1);

  // A node suspected and cleared: the data plane is not touched.
  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 1);
  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 0);
  await sleep(300);
  t.is(atB.length, 1);
  // One declared dead loses its entries at once; back, they return once (not once per message).
  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 2);
  t.deepEqual(removed, ['p1']);
  t.deepEqual(
    atB.map((c) => c.kind),
    ['add', 'remove'],
  );
  bus.setState('bbbbbbbbbbbb', 'aaaaaaaaaaaa', 0);
  t.true(await waitFor(() => live(b).length === 1 && [...b.endpoints(NET)].length === 1, 1_000));
  await sleep(300);
  t.deepEqual(
    atB.map((c) => c.kind),
    ['add', 'remove', 'add'],
  );
  t.deepEqual(added, ['p1', 'p1']);
  atB.length = 0;

  // A value change is one remove + add.
  a.updateEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.9'));
  a.updateEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.10'));
  await waitFor(() => atB.length === 2);
  await sleep(200);
  t.deepEqual(
    atB.map((c) => c.kind),
    ['remove', 'add'],
  );
  t.true(decodeEndpointRecord(atB[1]!.value).endpointIp === '10.0.1.10', 'only the latest value');
  bus.close();
});

test('lost events converge: the periodic bulk sync repairs a lost CREATE and a lost DELETE', async (t) => {
  const { bus, a, b } = await pair({ bulkSyncIntervalMs: 100 });
  // Every UDP packet from a to b is lost; TCP (bulk sync) gets through.
  bus.drop = (s) => s.from === 'aaaaaaaaaaaa' && s.to === 'bbbbbbbbbbbb' && !s.reliable;
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  await sleep(30);
  t.deepEqual(live(b), [], 'lost');
  const start = Date.now();
  t.true(await waitFor(() => live(b).length === 1, 1_000), `repaired by bulk sync ${JSON.stringify(b.stats())}`);
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  await sleep(30);
  t.true(await waitFor(() => live(b).length === 0, 1_000), 'the delete converged too');
  t.true(Date.now() - start < 1_000);
  t.true(a.stats().periodicBulkSyncs + b.stats().periodicBulkSyncs >= 2);
  t.true(b.stats().bulkSyncsIn >= 1);
  bus.close();
});

test('a DELETE that overtakes its CREATE wins (the stale-name race)', async (t) => {
  const { bus, a, b } = await pair();
  // Hold a's UDP to b, then deliver in reverse order.
  const held: Buffer[] = [];
  bus.drop = (s) => {
    if (s.from === 'aaaaaaaaaaaa' && s.to === 'bbbbbbbbbbbb' && !s.reliable) held.push(s.msg);
    return !s.reliable;
  };
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a1');
  for (const m of held.reverse()) b.notifyMsg(m);
  t.deepEqual(live(b), []);
  t.deepEqual(b.stats().tables[ENDPOINT_TABLE], { live: 0, tombstones: 1 });
  bus.close();
});

test('rebroadcast: only events that changed our state, once synced, within the retransmit limit', async (t) => {
  const bus = new Bus();
  const a = bus.add('aaaaaaaaaaaa', { gossipIntervalMs: 0 });
  const b = bus.add('bbbbbbbbbbbb', { gossipIntervalMs: 0 });
  const c = bus.add('cccccccccccc', { gossipIntervalMs: 0 });
  await Promise.all([a.joinNetwork(NET), b.joinNetwork(NET), c.joinNetwork(NET)]);
  await a.joinNetwork(NET);
  // a's packets reach only b.
  bus.drop = (s) => s.from === 'aaaaaaaaaaaa' && s.to === 'cccccccccccc';
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  await sleep(10);
  t.deepEqual(live(b), ['a1']);
  t.deepEqual(live(c), []);
  t.is(b.stats().tableEventsRebroadcast, 1);
  // The same event again (a retransmission) changes nothing: not re-gossiped.
  a.gossipRound();
  a.gossipRound();
  await sleep(10);
  t.is(b.stats().tableEventsRebroadcast, 1);
  t.true(b.stats().drops.staleLTime >= 1);
  // b's rounds carry it to c, a bounded number of times.
  bus.log.length = 0;
  for (let i = 0; i < 20; i++) b.gossipRound();
  await sleep(10);
  t.deepEqual(live(c), ['a1']);
  const fromB = bus.log.filter((s) => s.from === 'bbbbbbbbbbbb' && !s.reliable).flatMap((s) => tableEventsIn(s.msg));
  const limit = retransmitLimit(4, 3);
  t.is(limit, 4);
  t.true(fromB.length > 0 && fromB.length <= limit * 2, `${fromB.length} sends: at most ${limit} rounds to the 2 peers`);
  t.is(b.stats().queued, 0);
  // c got it from b: it changed c's state, so c queues it too — once.
  t.is(c.stats().tableEventsRebroadcast, 1);
  bus.close();
});

test('network events: a LEAVE is re-gossiped by those it changed; push-pull carries it when lost', async (t) => {
  const bus = new Bus();
  const a = bus.add('aaaaaaaaaaaa', { gossipIntervalMs: 0 });
  const b = bus.add('bbbbbbbbbbbb', { gossipIntervalMs: 0 });
  await a.joinNetwork(NET);
  await a.joinNetwork(OTHER_NET);
  await b.joinNetwork(NET);
  t.deepEqual(
    b.peersOn(NET).map((m) => m.name),
    ['aaaaaaaaaaaa'],
  );
  bus.drop = (s) => !s.reliable; // every UDP packet lost
  await a.leaveNetwork(NET);
  t.deepEqual(b.peersOn(NET), [], 'the push-pull carried the leave');
  t.deepEqual(
    a.joinedNetworks(),
    [OTHER_NET],
  );
  bus.close();
});

test('memory stays flat: 20,000 create/delete cycles leave nothing after the reap interval', async (t) => {
  const { bus, a, b } = await pair({ reapEntryMs: 300, reapPeriodMs: 20, gossipIntervalMs: 5 });
  bus.keepLog = false;
  const atB = watch(b);
  for (let i = 0; i < 20_000; i++) {
    a.createEntry(NET, ENDPOINT_TABLE, `k${i}`, record(`t${i}`, '10.0.1.5'));
    a.deleteEntry(NET, ENDPOINT_TABLE, `k${i}`);
    // And one key over and over.
    a.createEntry(NET, OVERLAY_PEER_TABLE, 'same', Buffer.from('x'));
    a.deleteEntry(NET, OVERLAY_PEER_TABLE, 'same');
  }
  t.true(a.stats().queued <= 1_024 + 2, `the retransmit queue is capped: ${a.stats().queued}`);
  await waitFor(() => b.stats().tableEventsIn >= 40_000, 5_000);
  t.true(
    await waitFor(() => {
      const sa = a.stats();
      const sb = b.stats();
      return sa.entries === 0 && sb.entries === 0 && sa.queued === 0 && sb.queued === 0 && sb.pendingChanges === 0;
    }, 5_000),
    JSON.stringify({ a: a.stats(), b: b.stats() }),
  );
  for (const db of [a, b]) {
    const inner = db as unknown as { tables: Map<string, unknown>; delivered: Map<string, unknown>; dirty: Map<string, unknown>; tableQueues: Map<string, unknown>; bulkSyncWaiters: Map<string, unknown> };
    t.is(inner.tables.size, 0);
    t.is(inner.delivered.size, 0);
    t.is(inner.dirty.size, 0);
    t.is(inner.tableQueues.size, 0);
    t.is(inner.bulkSyncWaiters.size, 0);
  }
  t.true(atB.length <= 40_000);
  bus.close();
});

test('stats: entries by table, networks, nodes per state, drops by reason', async (t) => {
  const { bus, a, b } = await pair();
  a.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  a.createEntry(NET, ENDPOINT_TABLE, 'a2', record('t2', '10.0.1.6'));
  a.deleteEntry(NET, ENDPOINT_TABLE, 'a2');
  t.true(await waitFor(() => b.stats().tables[ENDPOINT_TABLE]?.live === 1));
  const s = b.stats();
  t.deepEqual(s.tables[ENDPOINT_TABLE], { live: 1, tombstones: 1 });
  t.is(s.networks, 1);
  t.deepEqual(s.nodes, { alive: 1, suspect: 0, dead: 0, left: 0 });
  t.is(s.dropped, Object.values(s.drops).reduce((x, y) => x + y, 0));
  t.is(s.tableEventsIn, 3);
  t.true(a.stats().tableEventsOut >= 3);
  t.true(s.bulkSyncsIn >= 1);
  bus.close();
});

test('TableEventType stays the wire’s (CREATE 1, UPDATE 2, DELETE 3)', (t) => {
  t.deepEqual(TableEventType, { CREATE: 1, UPDATE: 2, DELETE: 3 });
});
