// A failed rolling update always rolls back (issue #13, item 9): the workshop flow on two berth
// nodes around a real manager — a 4-replica service with a healthcheck on an overlay, whose
// tasks ignore SIGTERM (each stop takes the 10 s grace period, as the workshop's did), then
// `docker service update --args false --update-failure-action rollback --update-monitor 4s` —
// repeated on the same service. SwarmKit's updater waits, without a timeout, for each new task
// to reach RUNNING or beyond (and, at most a minute, for the old one to go past RUNNING): a task
// a node leaves below RUNNING holds the update in `updating` for good. Each repetition must reach
// rollback_completed within ROLLBACK_BOUND_MS (healthy runs take 13–27 s); a hang names the tasks
// that held it, as the manager and each node see them.
// BERTH_ROLLBACK_RUNS=N repeats the flow N times (default 5) for confidence by hand.
import test from 'ava';
import { controlRequest } from '../../agent/control.js';
import { startBerthNodes } from '../harness/cluster.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';

const RUNS = Number(process.env.BERTH_ROLLBACK_RUNS ?? 5);
const NETWORK = 'rollnet';
const REPLICAS = 4;
/** Ignores SIGTERM: the engine kills it when the grace period ends. */
const SERVE = "trap '' TERM; touch /tmp/ok; while :; do sleep 1; done";
const HEALTH = ['--health-cmd', 'test -f /tmp/ok', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '1'];
/** Far above a healthy run (13–27 s), far below the 180 s hang. */
const ROLLBACK_BOUND_MS = 90_000;

test(`a failed rolling update rolls back, ${RUNS} times in a row`, async (t) => {
  t.timeout(RUNS * 240_000 + 180_000);
  const { manager, nodes } = await startBerthNodes(t, 2);
  const d = manager.dockerd;
  await d.docker(['network', 'create', '--driver', 'overlay', NETWORK]);

  const taskLines = async (service: string) => {
    const format = '{{.ID}} {{.Slot}} {{.Status.State}}/{{.DesiredState}} node={{.NodeID}} err={{.Status.Err}} msg={{.Status.Message}} at={{.Status.Timestamp}}';
    const ids = (await d.docker(['service', 'ps', service, '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    return ids.length === 0 ? [] : (await d.docker(['inspect', '--type', 'task', '-f', format, ...ids])).stdout.split('\n').filter(Boolean);
  };
  /** What held the update: every task as the manager and as each node see it. */
  const diagnose = async (service: string) => {
    const lines = [`manager:`, ...(await taskLines(service)).map((l) => `  ${l}`)];
    for (const [i, n] of nodes.entries()) {
      const tasks = (await controlRequest(n.agentd.controlSocket, '/tasks', 10_000).catch((e: Error) => [{ err: e.message }])) as Array<Record<string, string>>;
      lines.push(`node ${i} (${n.id}):`, ...tasks.filter((x) => x.service === service || x.err).map((x) => `  ${JSON.stringify(x)}`));
      const ids = new Set((await taskLines(service)).map((l) => l.split(' ')[0]!));
      const logs = n.agentd.logs().split('\n').filter((l) => [...ids].some((id) => l.includes(id)));
      lines.push(`node ${i} log lines of these tasks:`, ...logs.slice(-60).map((l) => `  ${l}`));
    }
    return lines.join('\n');
  };
  /** `<state> <started at>`: an update is told from the previous one on the service by its start. */
  const updateStatus = async (service: string) => (await d.docker(['service', 'inspect', '-f', '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}', service])).stdout.trim();
  const running = async (service: string) => (await d.docker(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}'])).stdout.split('\n').filter((l) => l.startsWith('Running')).length;

  const service = 'web';
  await d.docker(['service', 'create', '--detach', '--no-resolve-image', '--network', NETWORK, '--name', service, '--replicas', String(REPLICAS), '--constraint', 'node.role==worker', ...HEALTH, TEST_IMAGE, 'sh', '-c', SERVE]);
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await waitFor(`run ${run}: ${REPLICAS} tasks running`, async () => (await running(service)) === REPLICAS, 120_000, 500);
    const before = await updateStatus(service);
    const started = Date.now();
    await d.docker(['service', 'update', '--detach', '--args', 'false', '--update-failure-action', 'rollback', '--update-monitor', '4s', service]);
    let state = '';
    const done = await waitFor(
      `run ${run}: rollback_completed`,
      async () => {
        const now = await updateStatus(service);
        state = now.split(' ')[0] ?? '';
        return now !== before && state === 'rollback_completed';
      },
      ROLLBACK_BOUND_MS,
      250,
    ).catch(() => false);
    const ms = Date.now() - started;
    if (!done) {
      t.log(`run ${run}: still ${state || 'no update status'} after ${ms} ms\n${await diagnose(service)}`);
      t.fail(`run ${run}: the update did not roll back within ${ROLLBACK_BOUND_MS} ms (state ${state})`);
      break;
    }
    times.push(ms);
    t.log(`run ${run}: rollback_completed ${ms} ms after the update`);
  }
  t.log(`rollback times (ms): ${JSON.stringify(times)}`);
  t.is(times.length, RUNS, 'every run rolled back');
});
