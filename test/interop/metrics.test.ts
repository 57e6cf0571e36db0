// agentd's Prometheus metrics with a real manager: a real agentd joined to a real Swarm manager
// runs a VIP service and a client task on an overlay. Real curl scrapes the control socket
// (GET /metrics) and the loopback --metrics-addr; the text is parsed strictly (every sample
// line well-formed, every family with HELP and TYPE); tasks by state match the running
// tasks, the DNS counters move after lookups from a task, the heartbeat RTT and
// assignment-to-running histograms have observations, the VIP load balancer shows its sync.
// A non-loopback --metrics-addr is a configuration error: exit 78, nothing started.
import test from 'ava';
import { controlRequest } from '../../agent/control.js';
import { EXIT_CONFIG_ERROR } from '../../agent/config.js';
import type { TaskView } from '../../agent/worker/worker.js';
import { startBerthCluster } from '../harness/cluster.js';
import { parsePromText, sampleValue, type PromFamily } from '../harness/prom-text.js';
import { startAgentd } from '../../scripts/lib/agentd.js';
import { requireCommand, run, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const METRICS_PORT = 19323;
const HTTP_PORT = 8080;
const SERVE = `mkdir -p /www && hostname > /www/index.html && exec httpd -f -p ${HTTP_PORT} -h /www`;
const SUBNET = '10.124.0.0/24';
const RUNNING_TIMEOUT_MS = 120_000;
const EXIT_TIMEOUT_MS = 30_000;

type Families = Map<string, PromFamily>;

test('metrics from a real agentd: parsed from the control socket and --metrics-addr, counters follow tasks and DNS lookups; a non-loopback --metrics-addr exits 78', async (t) => {
  const curl = requireCommand('curl', 'curl');
  const { manager, engine, underlay, agentd, status: st } = await startBerthCluster(t, { extraArgs: ['--metrics-addr', `127.0.0.1:${METRICS_PORT}`] });
  t.is(st.dataPlane, 'on');
  const berthHost = underlay.hosts[1]!;
  const scrapeSocket = async (): Promise<Families> => parsePromText((await run(curl, ['-sS', '--fail', '--unix-socket', agentd.controlSocket, 'http://localhost/metrics'])).stdout);
  const v = (f: Families, name: string, labels: Record<string, string> = {}) => sampleValue(f, name, labels);

  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', SUBNET, 'metricsnet']);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', 'metricsnet'];
  await d.docker([...common, '--name', 'web', '--replicas', '2', '--hostname', '{{.Task.Name}}', TEST_IMAGE, 'sh', '-c', SERVE]);
  await d.docker([...common, '--name', 'client', TEST_IMAGE, 'sleep', '3600']);
  const tasks = async () => (await controlRequest(agentd.controlSocket, '/tasks', 10_000)) as TaskView[];
  await waitFor('web (2) and client (1) RUNNING on the berth node', async () => (await tasks()).filter((x) => x.state === 'RUNNING').length === 3, RUNNING_TIMEOUT_MS, 250).catch(async (err: Error) => {
    t.log(JSON.stringify(await tasks()));
    throw err;
  });
  const client = (await engine.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=client', '--filter', 'label=io.berth.role=task'])).stdout.trim();
  const exec = (cmd: string) => engine.docker(['exec', client, 'sh', '-c', cmd], 30_000).then((r) => r.stdout, (e: Error) => `failed: ${e.message}`);
  // The VIP answers once the node's LB address came with the node object.
  await waitFor('the VIP answers', async () => /^web\.\d/.test((await exec(`timeout 3 wget -qO- http://web:${HTTP_PORT}/`)).trim()), 60_000, 500);

  const before = await scrapeSocket();
  for (const name of before.keys()) t.true(name.startsWith('berth_'), `${name} is prefixed berth_`);
  t.true(before.size >= 40, `${before.size} families`);

  // Tasks by state: what agentd runs, and what the manager sees running on this node.
  const running = (await tasks()).filter((x) => x.state === 'RUNNING').length;
  const onManager = (await d.docker(['node', 'ps', st.nodeId, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n').filter((l) => l.startsWith('Running')).length;
  t.is(v(before, 'berth_tasks', { state: 'running' }), running);
  t.is(running, 3);
  t.is(onManager, 3);
  t.is(v(before, 'berth_session_state', { state: 'connected' }), 1);
  t.is(v(before, 'berth_data_plane', { state: 'on' }), 1);
  t.true(v(before, 'berth_session_heartbeat_rtt_seconds_count') >= 1, 'heartbeat round trips observed');
  t.true(v(before, 'berth_session_heartbeat_rtt_seconds_sum') > 0);
  t.true(v(before, 'berth_task_assignment_to_running_seconds_count') >= 3, 'each task assigned while agentd ran is timed to RUNNING');
  const mean = (name: string) => v(before, `${name}_sum`) / v(before, `${name}_count`);
  t.log(`heartbeat RTT mean ${(mean('berth_session_heartbeat_rtt_seconds') * 1000).toFixed(1)} ms over ${v(before, 'berth_session_heartbeat_rtt_seconds_count')}; assignment to RUNNING mean ${mean('berth_task_assignment_to_running_seconds').toFixed(2)} s over ${v(before, 'berth_task_assignment_to_running_seconds_count')}`);
  t.is(v(before, 'berth_state_dir_degraded'), 0);

  // The load balancer of the overlay: both services have a VIP (web with 2 backends, client with
  // 1), synced through nftables or IPVS.
  const netId = (await d.docker(['network', 'inspect', '-f', '{{.Id}}', 'metricsnet'])).stdout.trim();
  t.is(v(before, 'berth_vip_services', { network: netId }), 2);
  t.is(v(before, 'berth_vip_backends', { network: netId }), 3);
  const backend = before.get('berth_vip_backend_info')!.samples[0]!.labels.backend!;
  t.true(v(before, 'berth_vip_sync_duration_seconds_count', { backend, result: 'ok' }) >= 1, 'VIP syncs observed');
  t.true(v(before, 'berth_gossip_running') === 1);

  // DNS: lookups from the task move the counters: a name berth holds (local), and one it must
  // forward to the host's resolvers (answered or SERVFAIL, it is counted and timed).
  const LOOKUPS = 3;
  for (let i = 0; i < LOOKUPS; i++) t.regex(await exec('nslookup web 127.0.0.11'), /Address: 10\.124\.0\.\d+/);
  await exec('nslookup -type=a berth-metrics-test.invalid 127.0.0.11');
  const after = await scrapeSocket();
  const local = (f: Families) => v(f, 'berth_dns_queries_total', { result: 'local' });
  const forwarded = (f: Families) => v(f, 'berth_dns_queries_total', { result: 'forwarded' });
  t.true(local(after) - local(before) >= LOOKUPS, `local answers ${local(before)} → ${local(after)}`);
  t.true(forwarded(after) > forwarded(before), `forwarded ${forwarded(before)} → ${forwarded(after)}`);
  const forwardTimed = (f: Families) => (f.get('berth_dns_forward_duration_seconds')?.samples ?? []).filter((s) => s.name.endsWith('_count')).reduce((a, s) => a + s.value, 0);
  t.true(forwardTimed(after) > forwardTimed(before), 'the forwarded query was timed');
  t.true(v(after, 'berth_dns_sandboxes') >= 3);

  // --metrics-addr: the same families over TCP on loopback, inside the berth host's namespace.
  const overTcp = parsePromText(await berthHost.exec(curl, ['-sS', '--fail', `http://127.0.0.1:${METRICS_PORT}/metrics`]));
  t.deepEqual([...overTcp.keys()].sort(), [...after.keys()].sort());
  t.is(v(overTcp, 'berth_tasks', { state: 'running' }), 3);
  // Only /metrics there: the control API stays on the root-only socket.
  t.regex(await berthHost.exec(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${METRICS_PORT}/status`]), /^404$/);

  // A non-loopback --metrics-addr: refused before anything starts, exit 78, the error names the way out.
  const refused = await startAgentd({ host: berthHost, dockerd: engine, manager: manager.address, extraArgs: ['--metrics-addr', `${berthHost.address}:${METRICS_PORT + 1}`] });
  t.teardown(() => refused.destroy());
  const code = await Promise.race([refused.exited, new Promise<string>((r) => setTimeout(() => r('still running'), EXIT_TIMEOUT_MS).unref())]);
  t.is(code, EXIT_CONFIG_ERROR, refused.logs());
  t.regex(refused.logs(), /metrics address .* is not a loopback address.*--metrics-allow-remote.*\[E_CONFIG_METRICS_ADDR\]/);
});
