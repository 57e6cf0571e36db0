// NetworkDB through Gossip over real loopback sockets (UDP + TCP, encrypted): the controller's
// API (joinNetwork, leaveNetwork, stats), a leave and a rejoin seen by the other node, and a
// delete whose every UDP copy is lost converging by the periodic bulk sync. No root needed.
import test, { type ExecutionContext } from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { ENDPOINT_TABLE, Gossip, endpointRecord, type NetworkKey } from '../../netd/gossip/index.js';
import type { Memberlist } from '../../netd/gossip/memberlist.js';

const NET = 'ovnet0000000000000000002';
const KEYS: NetworkKey[] = [0, 1, 2].map((i) => ({ subsystem: 'networking:gossip', key: randomBytes(16), lamportTime: BigInt(i + 1) }));
let nextHost = 10 + randomInt(0, 200);

const nextIp = () => `127.0.3.${(nextHost++ % 250) + 2}`;

async function startGossip(t: ExecutionContext, ip: string, seeds: string[], port: number): Promise<Gossip> {
  const g = new Gossip({ advertiseAddress: ip, port, seeds: () => seeds, log: () => undefined, networkdb: { settleMs: 20, bulkSyncIntervalMs: 300, gossipIntervalMs: 50, reapPeriodMs: 50 } });
  g.setKeys(KEYS);
  await g.ready();
  t.true(g.running, 'gossip started');
  t.teardown(() => g.close());
  return g;
}

async function waitFor(cond: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

const record = (name: string, ip: string) => endpointRecord({ name, serviceName: 'web', serviceId: 'svc1', virtualIp: '10.0.1.2', endpointIp: ip, aliases: [], taskAliases: [], serviceDisabled: false });
const names = (g: Gossip) => [...g.db.entries(NET, ENDPOINT_TABLE)].map((e) => e.key);

test('leaveNetwork takes our entries off the other node; joinNetwork after it works; a lost delete converges by bulk sync', async (t) => {
  const port = randomInt(20000, 60000);
  const aIp = nextIp();
  const a = await startGossip(t, aIp, [], port);
  const b = await startGossip(t, nextIp(), [aIp], port);
  t.true(await waitFor(() => (a.stats()?.members ?? 0) === 1 && (b.stats()?.members ?? 0) === 1), 'joined');

  await Promise.all([a.joinNetwork(NET), b.joinNetwork(NET)]);
  a.db.createEntry(NET, ENDPOINT_TABLE, 'a1', record('t1', '10.0.1.5'));
  t.true(await waitFor(() => names(b).join() === 'a1'), 'b has a’s entry');

  await a.leaveNetwork(NET);
  t.true(await waitFor(() => names(b).length === 0), 'a’s leave took its entry off b');
  t.is(a.stats()!.networkdb.networks, 0);
  t.deepEqual(b.db.peersOn(NET), []);

  await a.joinNetwork(NET);
  a.db.createEntry(NET, ENDPOINT_TABLE, 'a2', record('t2', '10.0.1.6'));
  t.true(await waitFor(() => names(b).join() === 'a2'), 'joined again, published again');

  // Every UDP packet a sends is lost from here: the delete reaches b only by bulk sync.
  const ml = (a as unknown as { ml: Memberlist }).ml;
  ml.sendBestEffort = () => undefined;
  a.db.deleteEntry(NET, ENDPOINT_TABLE, 'a2');
  t.true(await waitFor(() => names(b).length === 0, 3_000), 'the lost delete converged');
  const s = b.stats()!.networkdb;
  t.true(s.bulkSyncsIn >= 1);
  t.deepEqual(s.tables[ENDPOINT_TABLE], { live: 0, tombstones: 2 });
});
