// `npm run bench -- gossip`: how long an endpoint change takes to reach every node of the
// cluster's gossip, at 10 and at 50 nodes, and what an idle 50-node cluster costs in CPU.
//
// Every node is a whole Gossip (memberlist + NetworkDB, as agentd runs it, libnetwork's intervals)
// in this process, on its own loopback address (127.0.<cluster>.<n>) and the cluster's port, over
// real UDP and TCP, encrypted with one keyring; all join one overlay network. A change is an
// entry created on one node, then deleted (alternately in overlay_peer_table and endpoint_table,
// from a different node each time); it has reached the cluster when the last other node has it:
// - `watch`: the node's table watcher was told — what the DNS and the data plane act on. Watchers
//   get a key's change once its 250 ms settle window (flap damping) ends, so this is at least
//   250 ms by design;
// - `raw`: the entry was stored (or its tombstone was), looked at after each message the node's
//   NetworkDB takes in — the wire and the merge alone.
// A sample is the time from createEntry (or deleteEntry) on the owner to the last node; median
// and p99 of CHANGES × 2 samples per size and run (with 30 samples the p99 is the slowest one).
// A change that has not reached every node in CHANGE_TIMEOUT_MS counts as that long, and in
// `missed`.
// Idle cost: process CPU (user + system) over IDLE_MS with only the 50-node cluster up and
// nothing changing, per node and per second (ms of CPU per node per second; 10 = 1 % of a core).
// A Docker node cannot take part here: its gossip is dockerd's libnetwork, a separate process on
// a fixed port in its own network namespace; test/interop/gossip-*.test.ts mix the two.
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ENDPOINT_TABLE, Gossip, OVERLAY_PEER_TABLE, endpointRecord, type NetworkKey } from '../../netd/gossip/index.js';
import { percentile } from './core.js';
import { defineBenchmark } from './types.js';

const SMALL = 10;
const LARGE = 50;
/** Changes per size and run; each is two samples (the create and the delete). */
const CHANGES = 15;
const CHANGE_TIMEOUT_MS = 10_000;
const IDLE_MS = 10_000;
/** Before the idle window: past the last change's retransmissions (8 rounds of 200 ms at 50). */
const QUIET_MS = 2_500;
const JOIN_TIMEOUT_MS = 60_000;
/** Network joins at once: each push-pulls every member and bulk-syncs every peer. */
const JOIN_CONCURRENCY = 4;
const NETWORK = 'benchgossipnet00000000001';
const KEYS: NetworkKey[] = [0, 1, 2].map((i) => ({ subsystem: 'networking:gossip', key: randomBytes(16), lamportTime: BigInt(i + 1) }));

type Kind = 'add' | 'remove';

/** One change in flight: when each other node stored it and when its watcher heard it. */
interface Probe {
  table: string;
  key: string;
  kind: Kind;
  origin: number;
  raw: Map<number, number>;
  watch: Map<number, number>;
  done: () => void;
}

interface Cluster {
  nodes: Gossip[];
  probe: Probe | undefined;
  warnings: number;
  close(): Promise<void>;
}

interface Ctx {
  large: Cluster;
  /** Third octet of the next cluster's addresses. */
  nextSubnet: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gossip bench: timed out waiting for ${what}`);
    await sleep(50);
  }
}

function present(g: Gossip, table: string, key: string): boolean {
  for (const e of g.db.entries(NETWORK, table)) if (e.key === key) return true;
  return false;
}

/** Starts `size` nodes on 127.0.<subnet>.2… and one port, joined to each other and to NETWORK. */
async function startCluster(size: number, subnet: number): Promise<Cluster> {
  for (let attempt = 0; ; attempt++) {
    const port = randomInt(20_000, 60_000);
    const cluster: Cluster = {
      nodes: [],
      probe: undefined,
      warnings: 0,
      async close() {
        await Promise.all(this.nodes.map((g) => g.close()));
      },
    };
    const seed = `127.0.${subnet}.2`;
    const log = (level: string) => {
      if (level === 'warn' || level === 'error') cluster.warnings++;
    };
    for (let i = 0; i < size; i++) {
      const g = new Gossip({ advertiseAddress: `127.0.${subnet}.${i + 2}`, port, seeds: () => [seed], log });
      cluster.nodes.push(g);
      g.setKeys(KEYS);
      await g.ready();
      if (!g.running) break; // the port is taken on some address: another one
    }
    if (!cluster.nodes.every((g) => g.running)) {
      await cluster.close();
      if (attempt >= 5) throw new Error(`gossip bench: no free port for ${size} nodes on 127.0.${subnet}.x`);
      continue;
    }
    await waitUntil(`${size} nodes to see each other`, () => cluster.nodes.every((g) => g.stats()?.members === size - 1), JOIN_TIMEOUT_MS);
    const queue = [...cluster.nodes];
    await Promise.all(
      Array.from({ length: JOIN_CONCURRENCY }, async () => {
        for (let g = queue.shift(); g; g = queue.shift()) await g.joinNetwork(NETWORK);
      }),
    );
    await waitUntil(`${size} nodes on the network`, () => cluster.nodes.every((g) => g.db.peersOn(NETWORK).length === size - 1), JOIN_TIMEOUT_MS);
    cluster.nodes.forEach((g, i) => observe(cluster, g, i));
    return cluster;
  }
}

/** Feeds node `i`'s watchers, and the state after each message it takes in, to the probe. */
function observe(cluster: Cluster, g: Gossip, i: number): void {
  const settle = (p: Probe) => {
    if (p.raw.size === cluster.nodes.length - 1 && p.watch.size === cluster.nodes.length - 1) p.done();
  };
  for (const table of [OVERLAY_PEER_TABLE, ENDPOINT_TABLE]) {
    g.db.watchTable(table, (c) => {
      const p = cluster.probe;
      if (!p || i === p.origin || c.table !== p.table || c.key !== p.key || c.kind !== p.kind || p.watch.has(i)) return;
      p.watch.set(i, performance.now());
      settle(p);
    });
  }
  // memberlist hands NetworkDB every message (UDP gossip and TCP bulk sync) through notifyMsg.
  const db = g.db;
  const notifyMsg = db.notifyMsg.bind(db);
  db.notifyMsg = (msg: Buffer) => {
    notifyMsg(msg);
    const p = cluster.probe;
    if (!p || i === p.origin || p.raw.has(i)) return;
    if (present(g, p.table, p.key) === (p.kind === 'add')) {
      p.raw.set(i, performance.now());
      settle(p);
    }
  };
}

/** Runs `change` on node `origin` and times it to the last other node: [raw ms, watch ms]. */
async function timeChange(cluster: Cluster, origin: number, table: string, key: string, kind: Kind, change: () => void): Promise<[number, number]> {
  let done!: () => void;
  const reached = new Promise<void>((r) => (done = r));
  const probe: Probe = { table, key, kind, origin, raw: new Map(), watch: new Map(), done };
  cluster.probe = probe;
  const t0 = performance.now();
  change();
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([reached.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), CHANGE_TIMEOUT_MS)))]);
  clearTimeout(timer);
  cluster.probe = undefined;
  if (!inTime) return [CHANGE_TIMEOUT_MS, CHANGE_TIMEOUT_MS];
  return [Math.max(...probe.raw.values()) - t0, Math.max(...probe.watch.values()) - t0];
}

interface Latencies {
  raw: number[];
  watch: number[];
  missed: number;
}

async function changes(cluster: Cluster, run: number): Promise<Latencies> {
  const out: Latencies = { raw: [], watch: [], missed: 0 };
  const n = cluster.nodes.length;
  for (let c = 0; c < CHANGES; c++) {
    const origin = (run * CHANGES + c) % n;
    const db = cluster.nodes[origin]!.db;
    const key = `bench-${run}-${c}-${randomBytes(4).toString('hex')}`;
    const ip = `10.200.${c}.${(origin % 250) + 2}`;
    const table = c % 2 === 0 ? OVERLAY_PEER_TABLE : ENDPOINT_TABLE;
    const create =
      table === OVERLAY_PEER_TABLE
        ? () => db.publishPeer(NETWORK, key, { ip, prefixLength: 24, mac: '02:42:0a:c8:00:02', vtep: `127.0.0.${origin + 2}` })
        : () => db.createEntry(NETWORK, table, key, endpointRecord({ name: `web.${c}.${key}`, serviceName: 'web', serviceId: 'svcbench', virtualIp: '10.200.255.2', endpointIp: ip, aliases: [], taskAliases: [], serviceDisabled: false }));
    for (const [kind, change] of [
      ['add', create],
      ['remove', () => db.deleteEntry(NETWORK, table, key)],
    ] as const) {
      const [raw, watch] = await timeChange(cluster, origin, table, key, kind, change);
      if (raw >= CHANGE_TIMEOUT_MS) out.missed++;
      out.raw.push(raw);
      out.watch.push(watch);
    }
  }
  return out;
}

function figures(size: number, l: Latencies): Record<string, number> {
  return {
    [`watch_median_${size}_nodes_ms`]: percentile(l.watch, 50),
    [`watch_p99_${size}_nodes_ms`]: percentile(l.watch, 99),
    [`raw_median_${size}_nodes_ms`]: percentile(l.raw, 50),
    [`raw_p99_${size}_nodes_ms`]: percentile(l.raw, 99),
  };
}

export default defineBenchmark<Ctx>({
  description: `gossip: an entry created then deleted on one node, to every other node's watcher (and store) at ${SMALL} and ${LARGE} in-process nodes over loopback, ${CHANGES}×2 changes each; CPU of ${LARGE} idle nodes over ${IDLE_MS / 1000} s`,
  runs: 3,
  async setup() {
    const subnet = randomInt(40, 200);
    const t0 = performance.now();
    const large = await startCluster(LARGE, subnet);
    process.stderr.write(`  ${LARGE} nodes up and on the network in ${Math.round(performance.now() - t0)} ms\n`);
    return { large, nextSubnet: subnet + 1 };
  },
  async measure(ctx, run) {
    // The small cluster lives for this run only, so the idle window below sees the 50 nodes alone.
    const small = await startCluster(SMALL, ctx.nextSubnet++);
    let smallLat: Latencies;
    try {
      smallLat = await changes(small, run);
    } finally {
      await small.close();
    }
    const largeLat = await changes(ctx.large, run);

    await sleep(QUIET_MS);
    const before = process.cpuUsage();
    const t0 = performance.now();
    await sleep(IDLE_MS);
    const used = process.cpuUsage(before);
    const seconds = (performance.now() - t0) / 1000;
    return {
      ...figures(SMALL, smallLat),
      ...figures(LARGE, largeLat),
      missed: smallLat.missed + largeLat.missed,
      idle_cpu_ms_per_node_s: (used.user + used.system) / 1000 / seconds / LARGE,
      warnings: small.warnings + ctx.large.warnings,
    };
  },
  async teardown(ctx) {
    await ctx.large.close();
  },
  goals: {
    p99_50_nodes_ms: { value: (m) => m[`watch_p99_${LARGE}_nodes_ms`] ?? Number.NaN, target: '< 1000' },
  },
});
