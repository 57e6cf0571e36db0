// Health crosses nodes: a berth task's health goes into its endpoint_table entry
// (service_disabled), and another berth node stops answering it in tasks.<svc> and stops sending
// it new connections through the service's VIP — then takes it back when it is healthy again.
import test from 'ava';
import { startBerthNodes, type BerthNode } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { controlRequest } from '../../agent/control.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const HTTP_PORT = 8080;
const SERVE = `mkdir -p /www && hostname > /www/index.html && touch /www/healthy && exec httpd -f -p ${HTTP_PORT} -h /www`;
const REQUESTS = 12;

test("a task's health on one berth node decides its DNS answers and VIP traffic on another", async (t) => {
  const { manager, nodes } = await startBerthNodes(t, 2);
  const [a, b] = nodes as [BerthNode, BerthNode];
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', '10.127.0.0/24', 'healthnet']);
  // Long retries: the unhealthy task stays (disabled) rather than being replaced at once.
  const health = ['--health-cmd', 'test -f /www/healthy', '--health-interval', '1s', '--health-retries', '1', '--health-timeout', '1s'];
  const service = (name: string, node: string, ...cmd: string[]) => d.docker(['service', 'create', '--detach', '--no-resolve-image', '--network', 'healthnet', '--name', name, '--constraint', `node.id==${node}`, ...cmd]);
  await service('weba', a.id, '--hostname', '{{.Task.Name}}', ...health, TEST_IMAGE, 'sh', '-c', SERVE);
  await service('client', b.id, TEST_IMAGE, 'sleep', '3600');
  await waitFor(
    'weba and client Running',
    async () => {
      const out = (await d.docker(['service', 'ps', 'weba', 'client', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.trim().split('\n');
      return out.length === 2 && out.every((l) => l.startsWith('Running'));
    },
    90_000,
  );
  const containerOf = async (engine: BerthNode['engine'], svc: string) => (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`, '--filter', 'label=io.berth.role=task'])).stdout.trim();
  const client = await containerOf(b.engine, 'client');
  const web = await containerOf(a.engine, 'weba');
  const onB = (cmd: string) => b.engine.docker(['exec', client, 'sh', '-c', cmd], 30_000).then((r) => r.stdout, (e: Error) => `failed: ${e.message}`);
  const webIp = /inet (10\.127\.0\.\d+)\//.exec((await a.engine.docker(['exec', web, 'ip', '-o', '-4', 'addr', 'show', 'eth0'])).stdout)![1]!;
  const answers = async () => {
    const seen: string[] = [];
    for (let i = 0; i < REQUESTS; i++) seen.push((await onB(`timeout 2 wget -qO- http://weba:${HTTP_PORT}/ 2>&1`)).trim());
    return seen;
  };
  const inTasks = async () => (await onB('nslookup tasks.weba 127.0.0.11')).includes(webIp);

  // Healthy on node A: node B answers it and balances to it.
  await waitFor('node B answers the task on A in tasks.weba', inTasks, 60_000, 500);
  await waitFor('node B reaches it through the VIP', async () => (await answers()).every((x) => x.startsWith('weba.1.')), 60_000, 500);

  // Unhealthy on A: B stops answering it and stops sending it new connections.
  await a.engine.docker(['exec', web, 'rm', '/www/healthy']);
  await waitFor('node B drops it from tasks.weba', async () => !(await inTasks()), 30_000, 300);
  const whileUnhealthy = await answers();
  t.log(`while unhealthy: ${JSON.stringify(whileUnhealthy.slice(0, 3))}`);
  t.false(whileUnhealthy.some((x) => x.startsWith('weba.1.')), 'no request reaches the unhealthy task through the VIP');
  // With no healthy backend left the VIP refuses at once; once the failed task's container has
  // exited its endpoint is released and, as on Docker, a service with no task left has no name.
  t.true(whileUnhealthy.every((x) => /Connection refused|bad address/.test(x)), 'refused at once, never a timeout');

  // Swarm replaces the unhealthy task (as on Docker's worker); once the new one is healthy,
  // node B answers it and sends it requests.
  let last: string[] = [];
  await waitFor('node B reaches the replacement through the VIP', async () => (last = await answers()).every((x) => x.startsWith('weba.1.')), 90_000, 500).catch(async (err: Error) => {
    t.log(`last answers: ${JSON.stringify(last.slice(0, 2))}`);
    t.log(`ps: ${(await manager.dockerd.docker(['service', 'ps', 'weba', '--no-trunc'])).stdout}`);
    t.log(`B networks: ${JSON.stringify(await controlRequest(b.agentd.controlSocket, '/networks'))}`);
    t.log(`A networks: ${JSON.stringify(await controlRequest(a.agentd.controlSocket, '/networks'))}`);
    t.log(`B nslookup: ${await onB('nslookup weba 127.0.0.11; nslookup tasks.weba 127.0.0.11')}`);
    throw err;
  });
  t.regex(await onB('nslookup tasks.weba 127.0.0.11'), /Address: 10\.127\.0\.\d+/);
});
