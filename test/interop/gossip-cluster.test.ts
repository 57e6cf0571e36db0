// The cluster's gossip with five berth nodes and the real manager (6 hosts): one overlay, one
// global service with a task on every berth node and a task on Docker's own worker (the
// manager's node). Every berth node converges on every endpoint; kill -9 of one agentd (kept
// down, its containers still running) gets its gossip node declared dead everywhere within
// memberlist's suspicion bound, and its endpoints dropped from every table; a gossip partition
// between two nodes, with changes made while it lasts (one the other nodes relay, one on a
// network only those two share, which nobody relays), converges once healed within the
// periodic bulk sync's bound; a node whose last task on the network goes leaves the network in
// NetworkDB; and Docker's own node drops a killed berth node and its endpoints too.
//
// What each berth node is asked: agentctl's '/gossip' (memberlist members by state, NetworkDB's
// nodes and networks), '/networks' (the overlay's remote endpoints and its namespace), the
// kernel's VXLAN forwarding entries in that namespace (bridge fdb dst = the VTEPs it sends to),
// and its resolver from a task there (nslookup tasks.web 127.0.0.11). The Docker node is asked
// through `docker network inspect -v` (its NetworkDB's peers of the network, and the services'
// tasks from its endpoint_table).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { controlRequest } from '../../agent/control.js';
import { Cleanup, requireCommand, requireRoot, run, runQuiet, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import type { GossipStats } from '../../netd/gossip/index.js';
import type { NetworkStatus } from '../../netd/index.js';
import { startBerthNodes, type BerthNode, type BerthNodes } from '../harness/cluster.js';

const BERTH_NODES = 5;
const SUBNET = '10.124.0.0/24';
const SUBNET_RE = /Address:\s*(10\.124\.0\.\d+)/g;
const NET = 'gossipnet';
/** A second network, only ever on the two partitioned nodes: nobody else relays its entries. */
const PAIR_NET = 'pairnet';
const PAIR_SUBNET = '10.123.0.0/24';
const PAIR_RE = /Address:\s*(10\.123\.0\.\d+)/g;
const GOSSIP_PORT = '7946';
/** Overlay peers a berth node announces on a network it has tasks on: its tasks, and its
 *  load-balancer address (Docker's node does the same with its lb endpoint). */
const LB_PEERS = 1;

// memberlist's failure detection as berth (and Docker) run it: DefaultLANConfig.
const PROBE_INTERVAL_MS = 1_000;
const PROBE_TIMEOUT_MS = 500;
const SUSPICION_MULT = 4;
const SUSPICION_MAX_TIMEOUT_MULT = 6;
/** libnetwork's bulkSyncInterval: a lost event is repaired within one. */
const BULK_SYNC_INTERVAL_MS = 30_000;
const SLACK_MS = 10_000;
/** memberlist's TCPTimeout: a bulk sync stuck behind the partition gives up after this. */
const STREAM_DEADLINE_MS = 10_000;

/** memberlist's suspicionTimeout: SuspicionMult × max(1, log10 n) × ProbeInterval, up to
 *  SuspicionMaxTimeoutMult times that when nobody confirms. */
function suspicionBoundsMs(members: number): { min: number; max: number } {
  const min = SUSPICION_MULT * Math.max(1, Math.log10(members)) * PROBE_INTERVAL_MS;
  return { min, max: min * SUSPICION_MAX_TIMEOUT_MULT };
}

/** Longest until every other node has the killed one dead: each probes one member per interval
 *  (the dead one's turn comes within n−1 intervals), a probe fails after its timeout, then the
 *  unconfirmed suspicion runs out; the dead message spreads in a few gossip ticks. */
function deathBoundMs(members: number): number {
  return (members - 1) * PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS + suspicionBoundsMs(members).max + 1_000;
}

interface Node extends BerthNode {
  /** 1-based host index, for the logs. */
  n: number;
  /** The web task's container on this node, and its overlay address. */
  web: { ctr: string; ip: string } | undefined;
  gossipName: string;
  down: boolean;
}

interface Fixture {
  cluster: BerthNodes;
  nodes: Node[];
  netId: string;
  docker: { ctr: string; ip: string };
}

const cleanup = new Cleanup();
let fx: Fixture;

const gossip = (n: Node) => controlRequest(n.agentd.controlSocket, '/gossip', 2_000) as Promise<GossipStats | null>;
const networks = (n: Node) => controlRequest(n.agentd.controlSocket, '/networks', 2_000) as Promise<NetworkStatus | null>;
const managerDocker = (args: string[]) => fx.cluster.manager.dockerd.docker(args);
const live = () => fx.nodes.filter((n) => !n.down);
/** Live berth nodes with a task on the network (the others hold none of its tables). */
const onNetwork = () => live().filter((n) => n.web);

async function overlayOf(n: Node, netId = fx.netId) {
  return (await networks(n))?.overlay.networks.find((x) => x.id === netId);
}

/** The VTEPs this node's kernel sends the network's VXLAN traffic to (bridge fdb … dst). */
async function vtepsOf(n: Node, netId = fx.netId): Promise<string[]> {
  const ov = await overlayOf(n, netId);
  if (!ov) return [];
  const out = (await run('nsenter', [`--net=${ov.netnsPath}`, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'])).stdout;
  return [...new Set([...out.matchAll(/ dst (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!))].sort();
}

/** The addresses node `n`'s resolver answers for `name`, asked from its task `ctr`. */
async function lookupIn(n: Node, ctr: string, name: string, re = SUBNET_RE): Promise<string[] | undefined> {
  const r = await n.engine.docker(['exec', ctr, 'nslookup', name, '127.0.0.11'], 10_000).then(
    (x) => x.stdout,
    (e: Error) => e.message,
  );
  if (/SERVFAIL|timed out|connection refused/i.test(r)) return undefined;
  return [...r.matchAll(re)].map((m) => m[1]!).sort();
}

/** The same from its web task. */
function lookupOn(n: Node, name: string): Promise<string[] | undefined> {
  return n.web ? lookupIn(n, n.web.ctr, name) : Promise.resolve(undefined);
}

async function taskOf(engine: BerthNode['engine'], svc: string, prefix = '10.124.0.'): Promise<{ ctr: string; ip: string } | undefined> {
  const ctr = (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n')[0];
  if (!ctr) return undefined;
  const addrs = (await engine.docker(['exec', ctr, 'ip', '-o', '-4', 'addr'])).stdout;
  const ip = [...addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!).find((x) => x.startsWith(prefix));
  return ip ? { ctr, ip } : undefined;
}

async function runningCount(svc: string): Promise<number> {
  const out = (await managerDocker(['service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim();
  return out ? out.split('\n').filter((l) => l.startsWith('Running')).length : 0;
}

/** The Docker node's NetworkDB view of the network: its peers (gossip names) and each
 *  service's task addresses (its endpoint_table). */
async function dockerView(): Promise<{ peers: string[]; tasks: Record<string, string[]> }> {
  const out = (await managerDocker(['network', 'inspect', '-v', NET, '--format', '{{json .Peers}}\n{{json .Services}}'])).stdout.trim().split('\n');
  const peers = ((JSON.parse(out[0] ?? 'null') ?? []) as Array<{ Name: string }>).map((p) => p.Name).sort();
  const services = (JSON.parse(out[1] ?? 'null') ?? {}) as Record<string, { Tasks?: Array<{ EndpointIP: string }> }>;
  const tasks: Record<string, string[]> = {};
  for (const [svc, s] of Object.entries(services)) if (svc) tasks[svc] = (s.Tasks ?? []).map((x) => x.EndpointIP).sort();
  return { peers, tasks };
}

/** What every berth node on the network must hold once converged. */
interface Expected {
  /** service → every task address (every node's resolver answers all of them). */
  services: Record<string, string[]>;
  /** host address → overlay peers it announces. */
  peersByHost: Map<string, number>;
}

/** From where tasks run now: the live berth nodes' web tasks, the Docker task, and `extra`
 *  (service → tasks by host address); each host on the network adds its lb address. */
function expected(extra: Record<string, Array<{ host: string; ip: string }>> = {}): Expected {
  const services: Record<string, string[]> = { web: [] };
  const peersByHost = new Map<string, number>();
  const add = (svc: string, host: string, ip: string) => {
    (services[svc] ??= []).push(ip);
    peersByHost.set(host, (peersByHost.get(host) ?? LB_PEERS) + 1);
  };
  for (const n of onNetwork()) add('web', n.host.address, n.web!.ip);
  add('dock', fx.cluster.underlay.hosts[0]!.address, fx.docker.ip);
  for (const [svc, list] of Object.entries(extra)) for (const x of list) add(svc, x.host, x.ip);
  for (const s of Object.values(services)) s.sort();
  return { services, peersByHost };
}

/** What differs between node `n`'s view and `want`; empty when converged. */
async function divergence(n: Node, want: Expected): Promise<string[]> {
  const diffs: string[] = [];
  const remote = [...want.peersByHost].filter(([h]) => h !== n.host.address);
  const wantVteps = remote.map(([h]) => h).sort();
  const vteps = await vtepsOf(n);
  if (vteps.join() !== wantVteps.join()) diffs.push(`vteps ${vteps.join()} ≠ ${wantVteps.join()}`);
  const wantRemote = remote.reduce((a, [, c]) => a + c, 0);
  const ov = await overlayOf(n);
  if (ov?.remoteEndpoints !== wantRemote) diffs.push(`remoteEndpoints ${ov?.remoteEndpoints} ≠ ${wantRemote}`);
  if (n.web) {
    for (const [svc, ips] of Object.entries(want.services)) {
      const got = await lookupOn(n, `tasks.${svc}`);
      if (got?.join() !== ips.join()) diffs.push(`tasks.${svc} ${got?.join()} ≠ ${ips.join()}`);
    }
  }
  return diffs;
}

/** Waits until every live berth node holds `want`; returns ms per node since `since`. */
async function converge(t: ExecutionContext, what: string, want: Expected, since: number, timeoutMs: number): Promise<Map<number, number>> {
  const at = new Map<number, number>();
  const last = new Map<number, string[]>();
  try {
    await waitFor(
      what,
      async () => {
        await Promise.all(
          onNetwork()
            .filter((n) => !at.has(n.n))
            .map(async (n) => {
              const d = await divergence(n, want);
              last.set(n.n, d);
              if (d.length === 0) at.set(n.n, Date.now() - since);
            }),
        );
        return onNetwork().every((n) => at.has(n.n));
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    for (const [n, d] of last) if (!at.has(n)) t.log(`node ${n} still: ${d.join('; ')}`);
    throw err;
  }
  t.log(`${what}: ${[...at].map(([n, ms]) => `node ${n} ${ms} ms`).join(', ')}`);
  return at;
}

/** Drops gossip (TCP and UDP 7946) between two hosts, both ways, inside `a`'s namespace. */
function partitionRules(peer: string): string[][] {
  const rules: string[][] = [];
  for (const proto of ['tcp', 'udp']) {
    rules.push(['INPUT', '-s', peer, '-p', proto, '--dport', GOSSIP_PORT, '-j', 'DROP']);
    rules.push(['INPUT', '-s', peer, '-p', proto, '--sport', GOSSIP_PORT, '-j', 'DROP']);
    rules.push(['OUTPUT', '-d', peer, '-p', proto, '--dport', GOSSIP_PORT, '-j', 'DROP']);
    rules.push(['OUTPUT', '-d', peer, '-p', proto, '--sport', GOSSIP_PORT, '-j', 'DROP']);
  }
  return rules;
}

test.before(async () => {
  requireRoot('gossip cluster interop');
  requireCommand('iptables', 'iptables');
  requireCommand('bridge', 'iproute2');
  const startedAt = Date.now();
  const cluster = await startBerthNodes({ teardown: (fn) => cleanup.add('berth nodes', fn) }, BERTH_NODES);
  const d = cluster.manager.dockerd;
  for (const n of cluster.nodes) await d.docker(['node', 'update', '--label-add', 'gossip=on', n.id]);
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', SUBNET, NET]);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--network', NET];
  await d.docker([...common, '--name', 'web', '--mode', 'global', '--constraint', 'node.labels.gossip==on', TEST_IMAGE, 'sleep', '3600']);
  await d.docker([...common, '--name', 'dock', '--constraint', 'node.role==manager', TEST_IMAGE, 'sleep', '3600']);
  const nodes: Node[] = [];
  for (const [i, b] of cluster.nodes.entries()) nodes.push({ ...b, n: i + 1, web: undefined, gossipName: '', down: false });
  fx = { cluster, nodes, netId: '', docker: { ctr: '', ip: '' } };
  await waitFor('web on every berth node and dock on the manager Running', async () => (await runningCount('web')) === BERTH_NODES && (await runningCount('dock')) === 1, 180_000, 500);
  fx.netId = (await d.docker(['network', 'inspect', '-f', '{{.Id}}', NET])).stdout.trim();
  for (const n of nodes) {
    n.web = await waitFor(`web's task on node ${n.n}`, () => taskOf(n.engine, 'web'), 30_000, 500);
    n.gossipName = (await waitFor(`gossip on node ${n.n}`, async () => (await gossip(n)) ?? undefined, 30_000, 500)).node;
  }
  const dockCtr = (await d.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=dock'])).stdout.trim();
  const dockIp = (await d.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', dockCtr])).stdout.trim().split(' ').find((ip) => ip.startsWith('10.124.0.'));
  if (!dockIp) throw new Error(`the Docker task ${dockCtr} has no address on ${NET}`);
  fx.docker = { ctr: dockCtr, ip: dockIp };
  console.log(`cluster up in ${Date.now() - startedAt} ms: ${nodes.map((n) => `node ${n.n} ${n.host.address} ${n.gossipName} web ${n.web?.ip}`).join('; ')}; dock ${dockIp}`);
});

test.after.always(async () => {
  await cleanup.run();
});

test.serial('every berth node converges on every endpoint of the network', async (t) => {
  const since = Date.now();
  await converge(t, 'all endpoints on every berth node', expected(), since, 90_000);
  const members = BERTH_NODES; // others: 4 berth nodes + the manager
  for (const n of fx.nodes) {
    const g = (await gossip(n))!;
    t.like(g.memberlist.members, { alive: members, suspect: 0, dead: 0 }, `node ${n.n}`);
    t.is(g.networkdb.drops.malformedValue, 0);
  }
  // The Docker node: every berth node a peer of the network, every berth task in its tables.
  const want = expected().services.web!.join();
  const dv = await waitFor(
    "every berth node and task in the Docker node's view",
    async () => {
      const v = await dockerView();
      return fx.nodes.every((n) => v.peers.includes(n.gossipName)) && v.tasks.web?.join() === want ? v : undefined;
    },
    30_000,
    250,
  ).catch((err: Error) => dockerView().then((v) => t.fail(`${err.message}: ${JSON.stringify(v)}`)));
  if (dv) t.log(`Docker node: peers of ${NET} ${dv.peers.join(', ')}; converged ${Date.now() - since} ms after the start`);
});

test.serial('kill -9 of one agentd: every other node has its gossip node dead within the suspicion bound, and its endpoints gone', async (t) => {
  const victim = fx.nodes[4]!;
  const watchers = live().filter((n) => n !== victim);
  const before = new Map<number, GossipStats>();
  for (const n of watchers) before.set(n.n, (await gossip(n))!);
  const members = BERTH_NODES + 1;
  const bound = deathBoundMs(members);
  const { min, max } = suspicionBoundsMs(members);
  t.log(`${members} members: suspicion ${min}–${max} ms; death bound ${bound} ms`);

  await victim.agentd.kill('SIGKILL');
  const killedAt = Date.now();
  victim.down = true;
  // Each watcher on its own: memberlist's members by state, NetworkDB's nodes.
  const deadAt = new Map<number, number>();
  await waitFor(
    'the killed node dead on every other berth node',
    async () => {
      await Promise.all(
        watchers
          .filter((n) => !deadAt.has(n.n))
          .map(async (n) => {
            const g = await gossip(n);
            const b = before.get(n.n)!;
            if (g && g.memberlist.members.alive === b.memberlist.members.alive - 1 && g.networkdb.nodes.dead === b.networkdb.nodes.dead + 1) deadAt.set(n.n, Date.now() - killedAt);
          }),
      );
      return deadAt.size === watchers.length;
    },
    bound + SLACK_MS,
    100,
  );
  t.log(`declared dead: ${[...deadAt].map(([n, ms]) => `node ${n} ${ms} ms`).join(', ')}`);
  for (const [n, ms] of deadAt) t.true(ms < bound, `node ${n} took ${ms} ms (bound ${bound} ms)`);

  const gone = await converge(t, "the killed node's endpoints gone", expected(), killedAt, bound + SLACK_MS);
  for (const [n, ms] of gone) t.true(ms < bound, `node ${n}: endpoints gone after ${ms} ms (bound ${bound} ms)`);
  for (const n of watchers) {
    const g = (await gossip(n))!;
    t.log(`node ${n.n}: members ${JSON.stringify(g.memberlist.members)}, suspicions ${g.memberlist.suspicions - before.get(n.n)!.memberlist.suspicions}, deadDeclared ${g.memberlist.deadDeclared - before.get(n.n)!.memberlist.deadDeclared}`);
  }
  // Its task is still running on its engine: only the cluster's tables dropped it.
  t.truthy(await taskOf(victim.engine, 'web'), "the killed agent's container runs on");
});

test.serial('a gossip partition between two nodes, changes while it lasts, then heal: every table converges within the bulk sync bound', async (t) => {
  const [a, b] = live() as [Node, Node];
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--mode', 'global', '--constraint', 'node.labels.part==on'];
  for (const n of [a, b]) await managerDocker(['node', 'update', '--label-add', 'part=on', n.id]);
  // Before the partition: a network only these two nodes are on, a task on each, converged.
  await managerDocker(['network', 'create', '--driver', 'overlay', '--subnet', PAIR_SUBNET, PAIR_NET]);
  const pairNet = (await managerDocker(['network', 'inspect', '-f', '{{.Id}}', PAIR_NET])).stdout.trim();
  await managerDocker([...common, '--name', 'pair', '--network', PAIR_NET, TEST_IMAGE, 'sleep', '3600']);
  const pairTasks = async () => {
    const [pa, pb] = [await taskOf(a.engine, 'pair', '10.123.0.'), await taskOf(b.engine, 'pair', '10.123.0.')];
    return pa && pb ? new Map([[a, pa], [b, pb]]) : undefined;
  };
  let pair = await waitFor('a pair task on each node', async () => ((await runningCount('pair')) === 2 ? pairTasks() : undefined), 90_000, 500);
  /** What node `n` lacks or holds too much of on the pair network. */
  const pairDivergence = async (n: Node): Promise<string[]> => {
    const other = n === a ? b : a;
    const diffs: string[] = [];
    const vteps = await vtepsOf(n, pairNet);
    if (vteps.join() !== other.host.address) diffs.push(`${PAIR_NET} vteps ${vteps.join()} ≠ ${other.host.address}`);
    const remote = (await overlayOf(n, pairNet))?.remoteEndpoints;
    if (remote !== 1 + LB_PEERS) diffs.push(`${PAIR_NET} remoteEndpoints ${remote} ≠ ${1 + LB_PEERS}`);
    const ips = [...pair.values()].map((x) => x.ip).sort();
    const got = await lookupIn(n, pair.get(n)!.ctr, 'tasks.pair', PAIR_RE);
    if (got?.join() !== ips.join()) diffs.push(`tasks.pair ${got?.join()} ≠ ${ips.join()}`);
    return diffs;
  };
  const pairConverged = async (what: string, since: number, timeoutMs: number) => {
    const at = new Map<number, number>();
    await waitFor(
      what,
      async () => {
        for (const n of [a, b]) if (!at.has(n.n) && (await pairDivergence(n)).length === 0) at.set(n.n, Date.now() - since);
        return at.size === 2;
      },
      timeoutMs,
      250,
    ).catch(async (err: Error) => {
      for (const n of [a, b]) t.log(`node ${n.n} still: ${(await pairDivergence(n)).join('; ')}`);
      throw err;
    });
    t.log(`${what}: ${[...at].map(([n, ms]) => `node ${n} ${ms} ms`).join(', ')}`);
    return at;
  };
  await pairConverged(`${PAIR_NET} before the partition`, Date.now(), 60_000);

  const before = new Map<number, GossipStats>();
  for (const n of live()) before.set(n.n, (await gossip(n))!);
  const rules = partitionRules(b.host.address);
  for (const r of rules) await a.host.exec('iptables', ['-I', ...r]);
  let healed = false;
  const heal = async () => {
    if (healed) return;
    healed = true;
    for (const r of rules) await runQuiet('nsenter', [`--net=${a.host.netnsPath}`, 'iptables', '-D', ...r]);
  };
  t.teardown(heal);
  const partitionedAt = Date.now();
  t.log(`partition: gossip (TCP+UDP ${GOSSIP_PORT}) dropped between node ${a.n} (${a.host.address}) and node ${b.n} (${b.host.address})`);

  // The changes while it lasts. On gossipnet, a service with a task on each side: the other
  // nodes are on that network too and relay its entries. On pairnet, both tasks replaced
  // (old entries deleted, new ones created): nobody else is on it, so only a bulk sync
  // between the two, after the heal, can carry the change.
  await managerDocker([...common, '--name', 'extra', '--network', NET, TEST_IMAGE, 'sleep', '3600']);
  const oldPair = pair;
  await managerDocker(['service', 'update', '--detach', '--force', 'pair']);
  const ea = await waitFor(`extra on node ${a.n}`, () => taskOf(a.engine, 'extra'), 90_000, 500);
  const eb = await waitFor(`extra on node ${b.n}`, () => taskOf(b.engine, 'extra'), 30_000, 500);
  pair = await waitFor(
    'both pair tasks replaced',
    async () => {
      const now = (await runningCount('pair')) === 2 ? await pairTasks() : undefined;
      return now && [a, b].every((n) => now.get(n)!.ctr !== oldPair.get(n)!.ctr) ? now : undefined;
    },
    90_000,
    500,
  );
  t.log(`pair tasks ${[...oldPair.values()].map((x) => x.ip).join(', ')} replaced by ${[...pair.values()].map((x) => x.ip).join(', ')}`);
  const want = expected({ extra: [{ host: a.host.address, ip: ea.ip }, { host: b.host.address, ip: eb.ip }] });
  // Let the partition stand past every retransmission of those events, and past a periodic
  // bulk sync round on each side (its attempt to cross fails once the stream deadline is up):
  // what was not relayed is not repaired while the partition lasts, and the heal comes well
  // after a round, so the repair waits for the next one rather than riding a retried connect.
  const changedAt = Date.now();
  const syncsAt = new Map<number, number>();
  for (const n of [a, b]) syncsAt.set(n.n, (await gossip(n))!.networkdb.periodicBulkSyncs);
  await waitFor(
    'a periodic bulk sync round on both sides of the partition',
    async () => {
      const now = await Promise.all([a, b].map(async (n) => (await gossip(n))!.networkdb.periodicBulkSyncs > syncsAt.get(n.n)!));
      return now.every(Boolean);
    },
    BULK_SYNC_INTERVAL_MS + STREAM_DEADLINE_MS + SLACK_MS,
    200,
  );
  t.log(`periodic bulk sync rounds on both sides ${Date.now() - partitionedAt} ms into the partition`);
  await sleep(Math.max(STREAM_DEADLINE_MS + 1_000, changedAt + 5_000 - Date.now()));
  const duringPair = await Promise.all([a, b].map(async (n) => (await pairDivergence(n)).join('; ')));
  for (const [i, n] of [a, b].entries()) {
    t.log(`during the partition, node ${n.n}: ${NET} ${(await divergence(n, want)).join('; ') || 'converged (relayed through the others)'}; ${PAIR_NET} ${duringPair[i] || 'converged'}`);
  }
  t.true(duringPair.every((d) => d.length > 0), `${PAIR_NET} has not converged across the partition (nobody relays it)`);
  const partitionStats = await Promise.all(live().map(async (n) => [n.n, (await gossip(n))!] as const));

  const atHeal = new Map<number, GossipStats>();
  for (const n of [a, b]) atHeal.set(n.n, (await gossip(n))!);
  await heal();
  const healedAt = Date.now();
  t.log(`healed after ${healedAt - partitionedAt} ms`);
  const bound = BULK_SYNC_INTERVAL_MS + SLACK_MS;
  const gossipNet = await converge(t, `${NET} after the heal`, want, healedAt, bound);
  const pairAt = await pairConverged(`${PAIR_NET} after the heal (periodic bulk sync)`, healedAt, bound);
  for (const [n, ms] of [...gossipNet, ...pairAt]) t.true(ms < bound, `node ${n}: ${ms} ms (bound ${bound} ms)`);
  for (const n of [a, b]) {
    const [g, h] = [(await gossip(n))!.networkdb, atHeal.get(n.n)!.networkdb];
    t.log(`node ${n.n} since the heal: bulk syncs in +${g.bulkSyncsIn - h.bulkSyncsIn}, out +${g.bulkSyncsOut - h.bulkSyncsOut}, periodic +${g.periodicBulkSyncs - h.periodicBulkSyncs}`);
  }
  // Nobody was declared dead over it: the others' indirect probes vouched for each side.
  for (const [n, g] of partitionStats) {
    const b0 = before.get(n)!;
    t.log(`node ${n} during the partition: suspicions +${g.memberlist.suspicions - b0.memberlist.suspicions}, refutations +${g.memberlist.refutations - b0.memberlist.refutations}, indirect probes +${g.memberlist.indirectProbes - b0.memberlist.indirectProbes}, deadDeclared +${g.memberlist.deadDeclared - b0.memberlist.deadDeclared}, periodic bulk syncs +${g.networkdb.periodicBulkSyncs - b0.networkdb.periodicBulkSyncs}`);
    t.is(g.memberlist.deadDeclared, b0.memberlist.deadDeclared, `node ${n} declared nobody dead`);
  }
  // No stale entry a while later either (a late retransmission, a bulk sync from a node behind).
  await sleep(3_000);
  for (const n of onNetwork()) t.deepEqual(await divergence(n, want), [], `node ${n.n} still converged on ${NET}`);
  for (const n of [a, b]) t.deepEqual(await pairDivergence(n), [], `node ${n.n} still converged on ${PAIR_NET}`);
  // Back to the web service alone for the next tests.
  await managerDocker(['service', 'rm', 'extra', 'pair']);
  await converge(t, 'extra gone again', expected(), Date.now(), 60_000);
});

test.serial('a node whose last task on the network goes leaves the network in NetworkDB', async (t) => {
  const leaver = live()[2]!;
  const others = live().filter((n) => n !== leaver);
  const g0 = (await gossip(leaver))!;
  const before = new Map<number, GossipStats>();
  for (const n of others) before.set(n.n, (await gossip(n))!);
  t.true((await dockerView()).peers.includes(leaver.gossipName), 'the Docker node has it as a peer of the network');

  await managerDocker(['node', 'update', '--label-rm', 'gossip', leaver.id]);
  const removedAt = Date.now();
  const web = leaver.web!;
  await waitFor("the leaver's web task gone", async () => !(await taskOf(leaver.engine, 'web')), 60_000, 250);
  const taskGoneAt = Date.now() - removedAt;
  leaver.web = undefined;
  // Its own NetworkDB: one network fewer (its last endpoint there, the lb address, withdrawn).
  const left = await waitFor('the leaver off the network in its NetworkDB', async () => {
    const g = await gossip(leaver);
    return g && g.networkdb.networks === g0.networkdb.networks - 1 ? g : undefined;
  }, 60_000, 200);
  const leftAt = Date.now() - removedAt;
  // The Docker node's NetworkDB: no longer a peer of the network (per-network membership).
  await waitFor('the leaver gone from the Docker node\'s peers of the network', async () => !(await dockerView()).peers.includes(leaver.gossipName), 30_000, 250);
  const dockerAt = Date.now() - removedAt;
  const gone = await converge(t, "the leaver's endpoints gone from the other berth nodes", expected(), removedAt, 60_000);
  t.log(`task gone after ${taskGoneAt} ms, networks ${g0.networkdb.networks} → ${left.networkdb.networks} after ${leftAt} ms, off Docker's peers after ${dockerAt} ms; ${[...gone].map(([n, ms]) => `node ${n} ${ms} ms`).join(', ')}`);
  // The others heard the LEAVE (NetworkDB exposes no per-network node list: the network events
  // counter is what it shows), and the leaver is alive, not dead.
  for (const n of others) {
    const g = (await gossip(n))!;
    const b = before.get(n.n)!;
    t.true(g.networkdb.networkEventsIn > b.networkdb.networkEventsIn, `node ${n.n} heard the leave`);
    t.is(g.networkdb.nodes.dead, b.networkdb.nodes.dead, `node ${n.n}: the leaver is not dead`);
  }
  t.false((await dockerView()).tasks.web?.includes(web.ip));
  await waitFor("the leaver's overlay for the network removed", async () => (await overlayOf(leaver)) === undefined, 10_000, 200);
  t.pass();
});

test.serial("mixed with Docker's node: kill -9 of a berth agentd, the Docker node declares it dead and drops its endpoint", async (t) => {
  const victim = onNetwork().at(-1)!;
  const watchers = live().filter((n) => n !== victim);
  const ip = victim.web!.ip;
  const dv0 = await dockerView();
  t.true(dv0.peers.includes(victim.gossipName) && dv0.tasks.web!.includes(ip), JSON.stringify(dv0));
  const members = live().length + 1;
  const bound = deathBoundMs(members);
  await victim.agentd.kill('SIGKILL');
  const killedAt = Date.now();
  victim.down = true;
  let peerGoneAt = 0;
  let taskGoneAt = 0;
  await waitFor(
    "the berth node and its task gone from the Docker node's tables",
    async () => {
      const v = await dockerView();
      if (!peerGoneAt && !v.peers.includes(victim.gossipName)) peerGoneAt = Date.now() - killedAt;
      if (!taskGoneAt && !(v.tasks.web ?? []).includes(ip)) taskGoneAt = Date.now() - killedAt;
      return peerGoneAt > 0 && taskGoneAt > 0;
    },
    bound + SLACK_MS,
    200,
  );
  t.log(`Docker node: berth peer gone after ${peerGoneAt} ms, its task from Services after ${taskGoneAt} ms (bound ${bound} ms)`);
  t.true(peerGoneAt < bound && taskGoneAt < bound);
  const dv = await dockerView();
  t.deepEqual(dv.tasks.web, expected().services.web, "Docker's endpoint_table: the live berth tasks only");
  // The Docker task's own resolver no longer answers it either.
  const answers = async () => [...(await managerDocker(['exec', fx.docker.ctr, 'nslookup', 'tasks.web', '127.0.0.11'])).stdout.matchAll(SUBNET_RE)].map((m) => m[1]!).sort().join();
  await waitFor("the Docker task's resolver without the killed node's task", async () => (await answers()) === expected().services.web!.join(), 10_000, 250);
  const gone = await converge(t, 'and the remaining berth nodes', expected(), killedAt, bound + SLACK_MS);
  for (const [n, ms] of gone) t.true(ms < bound, `node ${n}: ${ms} ms`);
  t.deepEqual(watchers.map((n) => n.n), live().map((n) => n.n));
});
