// `npm run bench -- footprint`: what agentd (the built one, dist/) holds and burns while idle, as
// the node's load grows within one agentd process per run:
// 1. joined, no task;
// 2. + 1,000 tasks known;
// 3. + 10,000 remote endpoints in the gossip, each with its name (so 10,000 task names, and
//    their 100 services, in the DNS table) and its overlay peer entry.
// At each step, after the node has settled: RSS (/proc/<pid>/status VmRSS, the median of samples
// every 5 s over the window, and the largest; its anonymous part, RssAnon, beside it) and CPU
// (utime + stime from /proc/<pid>/stat) over IDLE_MS, as % of one core; at step 3 over STEADY_MS
// after a first IDLE_MS (reported apart as `settling`), see STEADY_MS.
//
// The manager is test/fixtures/test-manager.ts's FakeManager (SwarmKit's dispatcher API with
// berth's protos), which here also hands out the gossip keys. The 1,000 tasks are full container
// tasks assigned with desired state ACCEPTED: the node stores each, keeps its runner and reports
// it ACCEPTED, but starts no container (1,000 containers do not fit beside the other benches on
// this 2-core machine); one more task, on an overlay network, runs for real (its sandbox joins
// the network in the gossip). The 10,000 remote endpoints come from a gossip peer in this
// process (netd/gossip's Gossip, as another node's NetworkDB) on the same network; agentd takes
// them in by bulk sync when its task joins.
//
// Layout: agentd and its private dockerd in a test host namespace; this process (fake manager,
// gossip peer) reaches it through a veth of its own namespace into the hosts' switch, on a /24
// picked at random per run of the bench.
//
// Looking into it: BENCH_AGENTD_NODE_OPTIONS is handed to agentd as NODE_OPTIONS (compare V8
// flags); BENCH_AGENTD_LOG_LEVEL=debug shows, among others, the heap reducer's collections in its
// log (/var/lib/berth-test/<id>.log, removed with the run); BENCH_FOOTPRINT_SNAPSHOT_DIR makes agentd write a heap snapshot there at the end of
// each window (it takes seconds and memory: the figures of such a run are not the bench's).
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { run, sleep, uniqueName, waitFor } from '../../scripts/lib/exec.js';
import { controlRequest } from '../../agent/control.js';
import { ENDPOINT_TABLE, Gossip, endpointRecord, type GossipStats, type NetworkKey } from '../../netd/gossip/index.js';
import type { TaskIn } from '../../agent/proto/api.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { FakeManager, containerTask, taskId } from '../fixtures/test-manager.js';
import { randomSwarmId } from '../fixtures/test-pki.js';
import { median } from './core.js';
import { defineBenchmark } from './types.js';

const TASKS = 1_000;
const REMOTE_ENDPOINTS = 10_000;
const SERVICES = 100;
/** Long enough to hold one of NetworkDB's periodic bulk syncs (every 30 s), which is most of
 *  the idle CPU once the node holds 10,000 remote entries. */
const IDLE_MS = 30_000;
/** Between the node settling and the window: its last writes and reports drained. */
const QUIET_MS = 3_000;
/** With the endpoints in, the node's periodic work is NetworkDB's bulk sync with the peer (every
 *  30 s, each way) and the data plane's reconcile, which reads the kernel's neighbour and FDB
 *  tables (every 60 s, agentd's default): its idle figure is taken over 60 s, after the first
 *  IDLE_MS after the load (reported apart as `settling`: the load's aftermath — the first
 *  encoding of the new entries, the collection that gives back the load's garbage). */
const STEADY_MS = 60_000;
const SETTLE_TIMEOUT_MS = 120_000;
/** RSS is sampled this often over each window: one sample can land in a bulk sync, when its
 *  frames (megabytes at 10,000 endpoints) are held for a moment. */
const RSS_SAMPLE_MS = 5_000;
const CLOCK_TICKS_PER_S = 100;
const GOSSIP_PORT = 7946;
/** The overlay network of the one running task and of the remote endpoints: a /16 holds 10,000. */
const NETWORK_SUBNET = '10.240.0.0/16';
const NETWORK_GATEWAY = '10.240.0.1';
const LOCAL_TASK_ADDRESS = '10.240.255.2/16';
const VXLAN_ID = '4242';
const SNAPSHOT_DIR = process.env.BENCH_FOOTPRINT_SNAPSHOT_DIR;
const SNAPSHOT_SIGNAL = 'SIGPROF';
const KEYS: NetworkKey[] = [0, 1, 2].map((i) => ({ subsystem: 'networking:gossip', key: randomBytes(16), lamportTime: BigInt(i + 1) }));

interface Ctx {
  underlay: Underlay;
  /** This process's address on the underlay (the fake manager and the gossip peer listen on it). */
  ownAddress: string;
  engine: PrivateDockerd;
  manager: FakeManager;
  peer: Gossip;
  networkId: string;
}

/**
 * VmRSS of `pid` in MB, and its anonymous part (RssAnon: heaps, stacks). The rest is file pages,
 * nearly all of them the node binary's text and read-only data: shared with every other node
 * process, clean, and reclaimable by the kernel at any time.
 */
function rssMb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new Error(`footprint bench: no ${name} for pid ${pid}`);
    return Number(m[1]) / 1024;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon') };
}

/** utime + stime of `pid` in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** RSS (the median of samples every RSS_SAMPLE_MS, and the largest) and CPU (% of one core)
 *  over an idle window of `ms` after QUIET_MS (or right away with `quietMs` 0). */
async function idleWindow(pid: number, ms = IDLE_MS, quietMs = QUIET_MS): Promise<{ rss: number; anon: number; rssMax: number; cpu: number }> {
  await sleep(quietMs);
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const samples: Array<{ rss: number; anon: number }> = [];
  for (let at = RSS_SAMPLE_MS; at <= ms; at += RSS_SAMPLE_MS) {
    await sleep(t0 + at - performance.now());
    samples.push(rssMb(pid));
  }
  const cpu = ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
  const rss = median(samples.map((x) => x.rss));
  const anon = median(samples.map((x) => x.anon));
  const rssMax = Math.max(...samples.map((x) => x.rss));

  if (SNAPSHOT_DIR) {
    process.kill(pid, SNAPSHOT_SIGNAL);
    await sleep(15_000);
  }
  return { rss, anon, rssMax, cpu };
}

/** A veth from this process's namespace into the hosts' switch, with `address`. */
async function attachSelf(underlay: Underlay, address: string): Promise<void> {
  const own = uniqueName('fp').slice(0, 15);
  await run('ip', ['link', 'add', own, 'type', 'veth', 'peer', 'name', 'pself', 'netns', underlay.switchNetns]);
  await run('ip', ['-n', underlay.switchNetns, 'link', 'set', 'pself', 'master', 'br0', 'up']);
  await run('ip', ['addr', 'add', `${address}/${underlay.prefixLen}`, 'dev', own]);
  await run('ip', ['link', 'set', own, 'up']);
}

function overlayTask(ctx: Ctx): TaskIn {
  const t = containerTask(taskId(), { service: 'fplocal', args: ['sleep', '3600'] });
  return {
    ...t,
    networks: [
      {
        network: {
          id: ctx.networkId,
          spec: { annotations: { name: 'fpnet' } },
          driver_state: { name: 'overlay', options: { 'com.docker.network.driver.overlay.vxlanid_list': VXLAN_ID } },
          ipam: { configs: [{ subnet: NETWORK_SUBNET, gateway: NETWORK_GATEWAY }] },
        },
        addresses: [LOCAL_TASK_ADDRESS],
      },
    ],
  } as TaskIn;
}

/** The remote endpoints: another node's tasks on the network, with their names and peer entries. */
function publishRemoteEndpoints(ctx: Ctx): void {
  for (let i = 0; i < REMOTE_ENDPOINTS; i++) {
    const service = i % SERVICES;
    const ip = `10.240.${1 + (i >> 8)}.${i & 0xff}`;
    const key = randomBytes(32).toString('hex');
    const id = randomSwarmId();
    ctx.peer.db.publishPeer(ctx.networkId, key, { ip, prefixLength: 16, mac: `02:42:0a:f0:${(1 + (i >> 8)).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, vtep: ctx.ownAddress });
    ctx.peer.db.createEntry(
      ctx.networkId,
      ENDPOINT_TABLE,
      key,
      endpointRecord({ name: `fpsvc${service}.${1 + Math.floor(i / SERVICES)}.${id}`, serviceName: `fpsvc${service}`, serviceId: `fpsvcid${service}`, virtualIp: '', endpointIp: ip, aliases: [], taskAliases: [], serviceDisabled: false }),
    );
  }
}

function agentdEnv(): NodeJS.ProcessEnv {
  const flags = [process.env.BENCH_AGENTD_NODE_OPTIONS ?? '', SNAPSHOT_DIR ? `--heapsnapshot-signal=${SNAPSHOT_SIGNAL} --diagnostic-dir=${SNAPSHOT_DIR}` : ''].join(' ').trim();
  return flags ? { NODE_OPTIONS: flags } : {};
}

async function gossipOf(a: AgentdProcess): Promise<GossipStats | null> {
  return (await controlRequest(a.controlSocket, '/gossip', 5_000)) as GossipStats | null;
}

async function measureRun(ctx: Ctx, run: number): Promise<Record<string, number>> {
  const a = await startAgentd({ host: ctx.underlay.hosts[0]!, dockerd: ctx.engine, manager: ctx.manager.address, joinToken: ctx.manager.workerToken, hostname: `fp-${run}`, logLevel: process.env.BENCH_AGENTD_LOG_LEVEL ?? 'info', env: agentdEnv() });
  const assigned: string[] = [];
  try {
    await waitConnected(a);
    await waitFor('the gossip to start', async () => (await gossipOf(a)) !== null, SETTLE_TIMEOUT_MS, 200);
    const idle = await idleWindow(a.pid);
    process.stderr.write(`    idle: ${idle.rss.toFixed(1)} MB (${idle.anon.toFixed(1)} anonymous), ${idle.cpu.toFixed(2)} % CPU\n`);

    const tasks = Array.from({ length: TASKS }, (_, i) => ({ ...containerTask(taskId(), { service: `fptask${i % 20}`, slot: 1 + Math.floor(i / 20), args: ['sleep', '3600'] }), desired_state: TaskState.ACCEPTED as TaskIn['desired_state'] }));
    const t0 = performance.now();
    ctx.manager.assign(tasks);
    assigned.push(...tasks.map((t) => t.id!));
    await waitFor(`${TASKS} tasks ACCEPTED`, async () => tasks.every((t) => ctx.manager.lastStatus(t.id!)?.state === TaskState.ACCEPTED), SETTLE_TIMEOUT_MS, 200);
    process.stderr.write(`    ${TASKS} tasks accepted in ${Math.round(performance.now() - t0)} ms\n`);
    const withTasks = await idleWindow(a.pid);
    process.stderr.write(`    ${TASKS} tasks: ${withTasks.rss.toFixed(1)} MB (${withTasks.anon.toFixed(1)} anonymous), ${withTasks.cpu.toFixed(2)} % CPU\n`);

    const local = overlayTask(ctx);
    const t1 = performance.now();
    ctx.manager.assign([local]);
    assigned.push(local.id!);
    await waitFor('the overlay task RUNNING', async () => ctx.manager.lastStatus(local.id!)?.state === TaskState.RUNNING || (ctx.manager.lastStatus(local.id!)?.state ?? 0) > TaskState.RUNNING, SETTLE_TIMEOUT_MS, 200);
    if (ctx.manager.lastStatus(local.id!)?.state !== TaskState.RUNNING) throw new Error(`footprint bench: the overlay task did not run: ${JSON.stringify(ctx.manager.lastStatus(local.id!))}`);
    let names = 0;
    await waitFor(
      `${REMOTE_ENDPOINTS} remote endpoints in agentd's gossip and DNS`,
      async () => {
        const g = await gossipOf(a);
        const st = (await a.status()) as unknown as { dns?: { records?: { tasks?: number } } };
        names = st.dns?.records?.tasks ?? 0;
        return g !== null && g.networkdb.entries >= 2 * REMOTE_ENDPOINTS + 2 && g.networkdb.pendingChanges === 0 && names >= REMOTE_ENDPOINTS;
      },
      SETTLE_TIMEOUT_MS,
      500,
    );
    const drops = { agentd: (await gossipOf(a))?.memberlist.drops, peer: ctx.peer.stats()?.memberlist.drops };
    process.stderr.write(`    ${REMOTE_ENDPOINTS} remote endpoints in (${names} task names) in ${Math.round(performance.now() - t1)} ms; gossip drops ${JSON.stringify(drops)}\n`);
    const settling = await idleWindow(a.pid);
    process.stderr.write(`    + ${REMOTE_ENDPOINTS} endpoints, first ${IDLE_MS / 1000} s: ${settling.rss.toFixed(1)} MB, ${settling.cpu.toFixed(2)} % CPU\n`);
    const withEndpoints = await idleWindow(a.pid, STEADY_MS, 0);
    process.stderr.write(`    + ${REMOTE_ENDPOINTS} endpoints, next ${STEADY_MS / 1000} s: ${withEndpoints.rss.toFixed(1)} MB (${withEndpoints.anon.toFixed(1)} anonymous; at most ${withEndpoints.rssMax.toFixed(1)}), ${withEndpoints.cpu.toFixed(2)} % CPU\n`);
    return {
      idle_rss_mb: idle.rss,
      idle_rss_anon_mb: idle.anon,
      idle_rss_max_mb: idle.rssMax,
      idle_cpu_pct: idle.cpu,
      tasks_1000_rss_mb: withTasks.rss,
      tasks_1000_rss_anon_mb: withTasks.anon,
      tasks_1000_rss_max_mb: withTasks.rssMax,
      tasks_1000_cpu_pct: withTasks.cpu,
      endpoints_10000_settling_cpu_pct: settling.cpu,
      endpoints_10000_rss_mb: withEndpoints.rss,
      endpoints_10000_rss_anon_mb: withEndpoints.anon,
      endpoints_10000_rss_max_mb: withEndpoints.rssMax,
      endpoints_10000_cpu_pct: withEndpoints.cpu,
    };
  } finally {
    await a.destroy();
    ctx.manager.remove(assigned);
    const left = (await ctx.engine.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (left.length > 0) await ctx.engine.docker(['rm', '-f', ...left]);
  }
}

export default defineBenchmark<Ctx>({
  description: `agentd's RSS and idle CPU over ${IDLE_MS / 1000} s: joined with no task; + ${TASKS} tasks known; + ${REMOTE_ENDPOINTS} remote endpoints (names and peers) in the gossip (over ${STEADY_MS / 1000} s, after ${IDLE_MS / 1000} s of settling)`,
  runs: 3,
  async setup() {
    const prefix = `10.79.${randomInt(1, 250)}`;
    const underlay = await createHosts(1, { subnetPrefix: prefix });
    const ownAddress = `${prefix}.250`;
    try {
      await attachSelf(underlay, ownAddress);
      const engine = await startDockerd({ host: underlay.hosts[0]! });
      const manager = await FakeManager.start({ host: ownAddress, networkBootstrapKeys: KEYS });
      const peer = new Gossip({ advertiseAddress: ownAddress, port: GOSSIP_PORT, seeds: () => [underlay.hosts[0]!.address], log: () => undefined });
      peer.setKeys(KEYS);
      await peer.ready();
      if (!peer.running) throw new Error(`footprint bench: the gossip peer could not listen on ${ownAddress}:${GOSSIP_PORT}`);
      const ctx: Ctx = { underlay, ownAddress, engine, manager, peer, networkId: randomSwarmId() };
      await peer.joinNetwork(ctx.networkId);
      publishRemoteEndpoints(ctx);
      return ctx;
    } catch (err) {
      await underlay.destroy();
      throw err;
    }
  },
  measure: measureRun,
  async teardown(ctx) {
    await ctx.peer.close();
    await ctx.manager.close();
    await ctx.engine.stop();
    await ctx.underlay.destroy();
  },
  goals: {
    rss_1000_tasks_10000_names_mb: { value: (m) => m.endpoints_10000_rss_mb ?? Number.NaN, target: '< 80' },
    idle_cpu_pct: { value: (m) => m.idle_cpu_pct ?? Number.NaN, target: '< 1' },
    idle_cpu_10000_endpoints_pct: { value: (m) => m.endpoints_10000_cpu_pct ?? Number.NaN, target: '< 1' },
  },
});
