// kill -9 of agentd under traffic through a VIP: the kernel keeps balancing while agentd is
// gone, the restarted agentd takes its load balancers and host rules back without a refused or
// dropped request, and leaves no stale or duplicate rule behind.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { startBerthCluster } from '../harness/cluster.js';
import { startAgentd, waitConnected } from '../../scripts/lib/agentd.js';
import { run, sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { overlayNetnsName } from '../../netd/overlay/naming.js';
import { controlRequest } from '../../agent/control.js';
import type { NetworkStatus } from '../../netd/index.js';

const HTTP_PORT = 8080;
const PUBLISHED_PORT = 18090;
const SERVE = `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`;
const LOAD = fileURLToPath(new URL('../fixtures/http-load.mjs', import.meta.url));
const CONCURRENCY = 4;
const MIN_RATE = 100;
/** Load goes on this long after the kill before agentd comes back, and after it is back. */
const DOWN_MS = 3_000;
const AFTER_MS = 5_000;

interface LoadStats {
  ok: number;
  errors: Record<string, number>;
  perSecond: number[];
  ms: number;
}

/** nftables' tool by path: under npm, node_modules/.bin holds an unrelated `nft`. */
const NFT = '/usr/sbin/nft';
const inNs = (ns: string, cmd: string, ...args: string[]) => run('nsenter', [`--net=${ns}`, cmd === 'nft' ? NFT : cmd, ...args]).then((r) => r.stdout);

/** What berth's rules look like, in a form that ignores handles and counters. */
async function ruleShape(lbNs: string, hostNs: string): Promise<{ vips: string; br0: string; hostTables: string; published: string }> {
  const vipTable = await inNs(lbNs, 'nft', 'list', 'table', 'ip', 'berth-vip');
  const vips = [...vipTable.matchAll(/\b10\.126\.0\.\d+\b/g)].map((m) => m[0]).sort();
  const br0 = (await inNs(lbNs, 'ip', '-o', '-4', 'addr', 'show', 'br0')).split('\n').map((l) => /inet (\S+)/.exec(l)?.[1]).filter(Boolean).sort().join(' ');
  const hostTables = (await inNs(hostNs, 'nft', 'list', 'tables')).split('\n').filter((l) => /berth/.test(l)).sort().join('\n');
  const hostTable = await inNs(hostNs, 'nft', 'list', 'table', 'ip', 'berth');
  return { vips: [...new Set(vips)].join(' '), br0, hostTables, published: String(hostTable.split(String(PUBLISHED_PORT)).length - 1) };
}

test('kill -9 of agentd under ≥ 100 requests/s to a VIP: nothing refused or lost, no stale rule after the restart', async (t) => {
  const cluster = await startBerthCluster(t);
  const { manager, engine, status: st, underlay } = cluster;
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.126.0.0/24', 'restartnet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', 'restartnet'];
  await d.docker([...common, '--name', 'web', '--replicas', '2', '--hostname', '{{.Task.Name}}', '--publish', `published=${PUBLISHED_PORT},target=${HTTP_PORT}`, TEST_IMAGE, 'sh', '-c', SERVE]);
  await d.docker([...common, '--name', 'client', TEST_IMAGE, 'sleep', '3600']);
  await waitFor(
    'web and client Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'web', 'client', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 3 && out.every((l) => l.startsWith('Running'));
    },
    90_000,
  );
  const vip = (await d.docker(['service', 'inspect', 'web', '--format', '{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}'])).stdout.trim().split(' ').find((a) => a.startsWith('10.126.'))!.split('/')[0]!;
  const networkId = (await d.docker(['network', 'inspect', '-f', '{{.Id}}', 'restartnet'])).stdout.trim();
  const client = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=client', '--filter', 'label=io.berth.role=task'])).stdout.trim();
  const clientNs = `/proc/${(await engine.docker(['inspect', '-f', '{{.State.Pid}}', client])).stdout.trim()}/ns/net`;
  const netnsDir = join(dirname(cluster.agentd.controlSocket), 'netns');
  const lbNs = join(netnsDir, overlayNetnsName('berth-', networkId));
  const hostNs = underlay.hosts[1]!.netnsPath;
  await waitFor('the VIP answers', async () => /^web\./.test((await run('nsenter', [`--net=${clientNs}`, 'timeout', '3', 'wget', '-qO-', `http://${vip}:${HTTP_PORT}/`]).then((r) => r.stdout, () => '')).trim()), 30_000, 300);
  const before = await ruleShape(lbNs, hostNs);
  t.log(JSON.stringify(before));

  const load = spawn('nsenter', [`--net=${clientNs}`, process.execPath, LOAD, `http://${vip}:${HTTP_PORT}/`, String(CONCURRENCY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => load.kill('SIGKILL'));
  let out = '';
  load.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<LoadStats>((resolve) => load.on('exit', () => resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as LoadStats)));
  await sleep(2_000);

  const first = cluster.agentd;
  await first.kill('SIGKILL');
  await sleep(DOWN_MS);
  const second = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, stateDir: first.stateDir, extraArgs: ['--netns-dir', netnsDir] });
  t.teardown(() => second.destroy());
  await waitConnected(second, 60_000);
  await waitFor('the restarted agentd restored its desired state', async () => second.logs().includes('desired state restored'), 60_000, 200);
  // The new process has taken the load balancer over (applied it itself), under load.
  const lb = await waitFor(
    'the restarted agentd balancing on the network',
    async () => {
      const n = (await controlRequest(second.controlSocket, '/networks')) as NetworkStatus;
      const mine = n.vip?.networks.find((x) => x.id === networkId);
      return mine && mine.services >= 2 && mine.error === undefined ? mine : undefined;
    },
    60_000,
    250,
  );
  t.log(`after the restart: ${JSON.stringify(lb)}`);
  await sleep(AFTER_MS);
  load.kill('SIGTERM');
  const stats = await done;
  const seconds = stats.perSecond.slice(1, -1);
  t.log(`${stats.ok} requests in ${stats.ms} ms (${Math.round((stats.ok * 1000) / stats.ms)}/s), slowest second ${Math.min(...seconds)}, errors ${JSON.stringify(stats.errors)}`);
  t.deepEqual(stats.errors, {}, 'no request refused, reset or timed out across the kill and the restart');
  t.true(stats.ok / (stats.ms / 1000) >= MIN_RATE, `at least ${MIN_RATE} requests/s`);
  t.true(seconds.every((n) => n > 0), 'requests answered in every second, agentd down included');

  const after = await ruleShape(lbNs, hostNs);
  t.deepEqual(after, before, 'the same VIPs, LB addresses, one host table, one published-port rule set: nothing stale, nothing doubled');
  // Still balancing over both replicas after the restart.
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) seen.add((await run('nsenter', [`--net=${clientNs}`, 'timeout', '3', 'wget', '-qO-', `http://${vip}:${HTTP_PORT}/`]).then((r) => r.stdout, () => '')).trim());
  t.is([...seen].filter((s) => /^web\.\d\./.test(s)).length, 2, [...seen].join(', '));
});
