// agentd's own data plane across its death and behind its back, with a real manager. The
// process killed is agentd itself (the berth node's agent: the node process that programs the
// data plane), not a helper: two tasks of one service run on the berth node on one overlay and
// ping each other at 100/s through berth's overlay namespace (veth → br0 → veth). Cross-host
// VXLAN traffic between berth nodes needs remote endpoints from gossip, which is not built, so
// the cross-host kill -9 is test/integration/netd-overlay.test.ts (the netd programming process).
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { overlayNetnsName } from '../../netd/overlay/naming.js';
import { vethHostName } from '../../netd/overlay/naming.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { startBerthCluster, type BerthCluster } from '../harness/cluster.js';
import { Cleanup, requireCommand, requireRoot, run, runQuiet, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { repliesSince, startPingStream } from '../harness/ping.js';
import { logRecords } from '../fixtures/local-agentd.js';

const SUBNET = '10.125.0.0/24';
const RECONCILE_INTERVAL = '1s';
/** ~100 echoes/s (iputils makes `-i 0.01` ~16 ms on these kernels). */
const PING_INTERVAL_S = 0.009;
const MIN_PING_RATE = 50;
/** Pinging goes on at least this long after the kill, and again after the restart's reconcile. */
const AFTER_EVENT_MS = 2_500;
const STALE_IP = '10.125.0.250';
const STALE_MAC = '02:42:0a:7d:00:fa';
const STALE_VTEP = '10.99.0.9';
const STALE_VETH = 'bvdeadbeef000';
const STALE_PEER = 'bpdeadbeef000';
const LINK_KINDS_REPAIRED = ['networksCreated', 'devicesCreated', 'linksRepaired', 'sandboxesRepaired', 'addressesRestored', 'routesRestored', 'neighboursAdded', 'fdbAdded'];

interface TaskNet {
  id: string;
  netns: string;
  ip: string;
  veth: string;
}

interface Fixture {
  cluster: BerthCluster;
  agent: AgentdProcess;
  netnsDir: string;
  ovns: string;
  gateway: string;
  a: TaskNet;
  b: TaskNet;
}

const cleanup = new Cleanup();
let fx: Fixture;

function inNs(netns: string, cmd: string, ...args: string[]): Promise<string> {
  return run('nsenter', [`--net=${netns}`, cmd, ...args]).then((r) => r.stdout);
}

async function pingOnce(from: string, to: string): Promise<boolean> {
  return runQuiet('nsenter', [`--net=${from}`, 'ping', '-c', '1', '-W', '1', to]);
}

/** ifindex: name of br0, vxlan0 and the tasks' veths: the same numbers mean the same objects. */
async function liveLinks(): Promise<string[]> {
  const out = await inNs(fx.ovns, 'ip', '-o', 'link', 'show');
  const wanted = new Set(['br0', 'vxlan0', fx.a.veth, fx.b.veth]);
  return out
    .split('\n')
    .map((l) => /^(\d+): ([^:@]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && wanted.has(m[2]!))
    .map((m) => `${m[1]}: ${m[2]}`)
    .sort();
}

type LogRecord = ReturnType<typeof logRecords>[number];

const RUN_MESSAGES = new Set(['data plane drift repaired', 'data plane reconciled: no drift', 'data plane reconcile failed']);

/** agentd's log line for each reconcile run, oldest first. */
function reconcileRuns(agent: AgentdProcess): LogRecord[] {
  return logRecords(agent.logs()).filter((r) => RUN_MESSAGES.has(String(r.msg)));
}

test.before(async () => {
  requireRoot('agentd data plane interop');
  requireCommand('unshare', 'util-linux');
  const cluster = await startBerthCluster({ teardown: (fn) => cleanup.add('berth cluster', fn) }, { extraArgs: ['--reconcile-interval', RECONCILE_INTERVAL] });
  const { manager, engine, status } = cluster;
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', SUBNET, 'pingnet']);
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${status.nodeId}`, '--name', 'pinger', '--network', 'pingnet', '--replicas', '2', TEST_IMAGE, 'sleep', '3600']);
  await waitFor(
    'both pinger tasks Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'pinger', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 2 && out.every((l) => l.startsWith('Running'));
    },
    90_000,
    250,
  );
  const networkId = (await d.docker(['network', 'inspect', '-f', '{{.Id}}', 'pingnet'])).stdout.trim();
  const gateway = (await d.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'pingnet'])).stdout.trim();
  const ids = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=pinger', '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n');
  const tasks: TaskNet[] = [];
  for (const id of ids) {
    const [pid, taskId] = (await engine.docker(['inspect', '-f', '{{.State.Pid}} {{index .Config.Labels "com.docker.swarm.task.id"}}', id])).stdout.trim().split(' ');
    const netns = `/proc/${pid}/ns/net`;
    const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(await inNs(netns, 'ip', '-o', '-4', 'addr', 'show', 'eth0'))![1]!;
    tasks.push({ id: taskId!, netns, ip, veth: vethHostName(taskId!, networkId) });
  }
  const netnsDir = join(dirname(cluster.agentd.controlSocket), 'netns');
  fx = { cluster, agent: cluster.agentd, netnsDir, ovns: join(netnsDir, overlayNetnsName('berth-', networkId)), gateway, a: tasks[0]!, b: tasks[1]! };
  if (!(await pingOnce(fx.a.netns, fx.b.ip))) throw new Error(`task ${fx.a.id} cannot reach ${fx.b.ip} before the test`);
});

test.after.always(async () => {
  await cleanup.run();
});

test.serial('kill -9 of agentd loses no ping between its tasks; the restarted agentd removes what was left while it was down', async (t) => {
  const first = fx.agent;
  const linksBefore = await liveLinks();
  t.is(linksBefore.length, 4, linksBefore.join(', '));

  const pings = startPingStream(fx.a.netns, fx.b.ip, PING_INTERVAL_S);
  t.teardown(() => pings.kill());
  await waitFor('pings flowing', async () => pings.received >= 50, 10_000, 20);
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  // While agentd is down, berth-owned objects nobody wants: a veth on the bridge, a neighbour
  // and an FDB entry on vxlan0, a whole overlay namespace pinned in agentd's directory.
  await inNs(fx.ovns, 'ip', 'link', 'add', STALE_VETH, 'type', 'veth', 'peer', 'name', STALE_PEER);
  await inNs(fx.ovns, 'ip', 'link', 'set', STALE_VETH, 'master', 'br0', 'up');
  await inNs(fx.ovns, 'ip', 'neigh', 'add', STALE_IP, 'lladdr', STALE_MAC, 'dev', 'vxlan0', 'nud', 'permanent');
  await inNs(fx.ovns, 'bridge', 'fdb', 'add', STALE_MAC, 'dev', 'vxlan0', 'dst', STALE_VTEP, 'self', 'permanent');
  const staleNs = join(fx.netnsDir, 'berth-ov-stale0000000');
  writeFileSync(staleNs, '');
  await run('unshare', [`--net=${staleNs}`, 'true']);
  await sleep(Math.max(0, killedAt + AFTER_EVENT_MS - Date.now()));

  const second = await startAgentd({
    host: fx.cluster.underlay.hosts[1]!,
    dockerd: fx.cluster.engine,
    manager: fx.cluster.manager.address,
    stateDir: first.stateDir,
    // The same pinned namespaces as the first process (the harness gives each start its own).
    extraArgs: ['--netns-dir', fx.netnsDir, '--reconcile-interval', RECONCILE_INTERVAL],
  });
  cleanup.add('restarted agentd', () => second.destroy());
  fx.agent = second;
  await waitConnected(second, 60_000);
  const startRun = await waitFor('the reconcile after start', async () => reconcileRuns(second).find((r) => r.trigger === 'start'), 90_000, 100);
  const reconciledAt = Date.now();
  await sleep(AFTER_EVENT_MS);
  const r = await pings.stop();

  const afterKill = repliesSince(r, killedAt);
  const afterReconcile = repliesSince(r, reconciledAt);
  t.log(`${r.transmitted} sent, ${r.received} answered; ${afterKill.count} in the ${afterKill.spanMs} ms after the kill (${Math.round((afterKill.count * 1000) / afterKill.spanMs)}/s), ${afterReconcile.count} in the ${afterReconcile.spanMs} ms after the restart's reconcile`);
  t.log(`restart reconcile: ${JSON.stringify(startRun)}`);
  t.deepEqual(r.lost, [], 'every echo answered across the kill, the restart and its reconcile');
  t.true(afterKill.spanMs >= AFTER_EVENT_MS * 2 - 500);
  t.true(afterReconcile.spanMs >= AFTER_EVENT_MS - 500);
  t.true(afterKill.count >= (afterKill.spanMs / 1000) * MIN_PING_RATE, `at ≥ ${MIN_PING_RATE}/s`);

  const records = logRecords(second.logs());
  const restoredAt = records.findIndex((x) => x.msg === 'data plane: desired state restored');
  t.true(restoredAt >= 0 && restoredAt < records.findIndex((x) => x.trigger === 'start'), 'the first reconcile waited until the resumed tasks were plumbed again');
  // At least the stale neighbour and FDB entry added above (the checks below name them); under
  // load the first reconcile may also drop an entry of this node's former gossip self that a
  // peer relayed meanwhile — stale too, and no echo is lost.
  t.like(startRun, { level: 30, msg: 'data plane drift repaired', networksRemoved: 1 });
  t.true(Number(startRun.neighboursRemoved) >= 1 && Number(startRun.fdbRemoved) >= 1, JSON.stringify(startRun));
  t.true(Number(startRun.linksRemoved) >= 1, 'the stray veth');
  for (const k of LINK_KINDS_REPAIRED) t.is(startRun[k], undefined, `nothing live was ${k}`);
  t.deepEqual(await liveLinks(), linksBefore, 'br0, vxlan0 and both task veths kept their ifindex');
  t.notRegex(await inNs(fx.ovns, 'ip', '-o', 'link'), /deadbeef/);
  t.notRegex(await inNs(fx.ovns, 'ip', 'neigh', 'show', 'dev', 'vxlan0'), new RegExp(STALE_IP.replaceAll('.', '\\.')));
  t.notRegex(await inNs(fx.ovns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'), new RegExp(STALE_VTEP.replaceAll('.', '\\.')));
  t.false(existsSync(staleNs), 'the stale namespace is gone');
});

test.serial("agentd's periodic reconcile repairs links and addresses changed behind its back", async (t) => {
  const agent = fx.agent;
  const seen = reconcileRuns(agent).length;
  // A task's bridge-side veth and its eth0 set down, its default route (through the gateway
  // bridge, eth1: egress) deleted, and the network's gateway address taken off br0.
  const defaultRoute = (await inNs(fx.a.netns, 'ip', 'route', 'show', 'default')).trim();
  t.regex(defaultRoute, /^default via \S+ dev eth1/, 'egress: the default route goes through the gateway bridge');
  await inNs(fx.ovns, 'ip', 'link', 'set', fx.a.veth, 'down');
  await inNs(fx.a.netns, 'ip', 'link', 'set', 'eth0', 'down');
  await inNs(fx.a.netns, 'ip', 'route', 'del', 'default');
  await inNs(fx.ovns, 'ip', 'addr', 'del', `${fx.gateway}/${SUBNET.split('/')[1]}`, 'dev', 'br0');
  const wanted: Record<string, number> = { linksRepaired: 2, addressesRestored: 1 };
  const total = () => {
    const sum: Record<string, number> = {};
    for (const rec of reconcileRuns(agent).slice(seen).filter((x) => x.msg === 'data plane drift repaired')) {
      for (const k of Object.keys(wanted)) sum[k] = (sum[k] ?? 0) + Number(rec[k] ?? 0);
    }
    return sum;
  };
  await waitFor('the periodic reconcile to repair the drift', async () => Object.entries(wanted).every(([k, n]) => (total()[k] ?? 0) >= n), 30_000, 200);
  t.deepEqual(total(), wanted);
  const repairs = reconcileRuns(agent).slice(seen).filter((x) => x.msg === 'data plane drift repaired');
  t.true(repairs.every((x) => x.level === 30 && x.trigger === 'periodic'), 'logged at info, by a periodic run');
  await waitFor('the default route put back', async () => (await inNs(fx.a.netns, 'ip', 'route', 'show', 'default')).trim() === defaultRoute, 10_000, 200);
  t.regex(await inNs(fx.ovns, 'ip', '-o', 'link', 'show', fx.a.veth), /[<,]UP[,>]/);
  await waitFor('the task reaches its peer again', async () => pingOnce(fx.a.netns, fx.b.ip), 10_000, 200);
  // And with nothing to fix, the runs stay at debug.
  const quiet = reconcileRuns(agent).length;
  await waitFor('two more runs', async () => reconcileRuns(agent).length >= quiet + 2, 15_000, 200);
  t.true(reconcileRuns(agent).slice(quiet).every((x) => x.level === 20 && x.msg === 'data plane reconciled: no drift'));
});
