// Health → DNS with a real manager: a task whose container has a healthcheck is in
// tasks.<service> only while healthy (as on Docker, whose worker activates a task's service
// binding once it is healthy). Its own name resolves from the start; it is reported RUNNING
// only once healthy; turned unhealthy, it leaves tasks.<service> and its names go before
// its container is stopped.
import test from 'ava';
import { controlRequest } from '../../agent/control.js';
import type { TaskView } from '../../agent/worker/worker.js';
import { startBerthCluster } from '../harness/cluster.js';
import { sleep, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const NETWORK = 'healthnet';
const SUBNET_PREFIX = '10.127.0.';
const READY_FILE = '/tmp/ready';
/** How long the unhealthy-but-starting task is watched staying out of tasks.<svc>. */
const NOT_YET_CHECKS = 4;
const NOT_YET_GAP_MS = 1_000;

test('a task with a healthcheck joins tasks.<svc> only once healthy, and leaves it when unhealthy', async (t) => {
  const { manager, engine, agentd, status: st } = await startBerthCluster(t);
  t.is(st.dataPlane, 'on');
  const d = manager.dockerd;
  const tasks = async () => (await controlRequest(agentd.controlSocket, '/tasks', 10_000)) as TaskView[];
  await d.docker(['network', 'create', '--driver', 'overlay', '--subnet', `${SUBNET_PREFIX}0/24`, NETWORK]);
  const common = ['service', 'create', '--detach', '--no-resolve-image', '--constraint', `node.id==${st.nodeId}`, '--network', NETWORK];
  await d.docker([...common, '--name', 'prober', TEST_IMAGE, 'sleep', '3600']);
  const prober = await waitFor('the prober RUNNING', async () => (await tasks()).find((x) => x.service === 'prober' && x.state === 'RUNNING'), 120_000, 200);
  const proberCtr = `prober.${prober.slot}.${prober.id}`;
  const lookup = async (name: string): Promise<string[]> => {
    const out = await engine.docker(['exec', proberCtr, 'nslookup', name, '127.0.0.11'], 30_000).then(
      (r) => r.stdout,
      (e: Error) => e.message,
    );
    return [...out.matchAll(new RegExp(`Address:\\s+(${SUBNET_PREFIX.replaceAll('.', '\\.')}\\d+)`, 'g'))].map((m) => m[1]!).sort();
  };

  // A start period keeps the failing check from making it unhealthy before the test says so;
  // one retry turns it unhealthy at the first failure once it has been healthy.
  const health = ['--health-cmd', `test -f ${READY_FILE}`, '--health-interval', '300ms', '--health-timeout', '2s', '--health-retries', '1', '--health-start-period', '10m'];
  await d.docker([...common, '--name', 'web', ...health, TEST_IMAGE, 'sleep', '3600']);
  const web = await waitFor('web task published (its container started, not healthy)', async () => {
    const task = (await tasks()).find((x) => x.service === 'web');
    if (!task) return undefined;
    const ips = await lookup(`web.${task.slot}.${task.id}`);
    return ips.length === 1 ? { task, ip: ips[0]! } : undefined;
  }, 120_000, 500);
  const webCtr = `web.${web.task.slot}.${web.task.id}`;
  const allocated = (await d.docker(['inspect', '-f', `{{range .NetworksAttachments}}{{index .Addresses 0}}{{end}}`, web.task.id])).stdout.trim();
  t.is(allocated.split('/')[0], web.ip, 'the task name answers the manager-allocated address');

  for (let i = 0; i < NOT_YET_CHECKS; i++) {
    const state = (await tasks()).find((x) => x.id === web.task.id)?.state;
    t.not(state, 'RUNNING', 'not RUNNING before healthy');
    t.false((await lookup('tasks.web')).includes(web.ip), `tasks.web before healthy (check ${i + 1}, agentd state ${state})`);
    t.deepEqual(await lookup(`web.${web.task.slot}.${web.task.id}`), [web.ip], 'its own name resolves regardless');
    const vip = await lookup('web');
    t.true(vip.length === 1 && vip[0] !== web.ip, `the service name answers its VIP regardless: ${JSON.stringify(vip)}`);
    t.is((await engine.docker(['inspect', '-f', '{{.State.Health.Status}}', webCtr])).stdout.trim(), 'starting');
    await sleep(NOT_YET_GAP_MS);
  }

  await engine.docker(['exec', webCtr, 'touch', READY_FILE]);
  await waitFor('web RUNNING on agentd', async () => (await tasks()).find((x) => x.id === web.task.id && x.state === 'RUNNING'), 60_000, 50);
  // Reported RUNNING only after it joined: asked right after, tasks.web has it.
  t.deepEqual(await lookup('tasks.web'), [web.ip]);

  await engine.docker(['exec', webCtr, 'rm', READY_FILE]);
  await waitFor('the task out of tasks.web once unhealthy', async () => !(await lookup('tasks.web')).includes(web.ip), 60_000, 200);
  const failed = await waitFor('the manager sees the task failed as unhealthy', async () => {
    const out = (await d.docker(['service', 'ps', 'web', '--no-trunc', '--format', '{{.ID}} {{.Error}}'])).stdout;
    return out.split('\n').find((l) => l.startsWith(web.task.id) && /container unhealthy/.test(l));
  }, 60_000, 500);
  t.regex(failed, /container unhealthy/);
  t.deepEqual(await lookup(`web.${web.task.slot}.${web.task.id}`), [], 'its names are gone');
  // The controller told the networking both ways (agentd's log is written asynchronously).
  const said = (msg: string) => agentd.logs().split('\n').some((l) => l.includes(web.task.id) && l.includes(msg));
  await waitFor('agentd to log the health changes', async () => said('task healthy: in its service answers') && said('task not healthy: out of its service answers'), 30_000, 200);
});
