// What a scrape of agentd's metrics costs with 100 tasks known. A FakeManager (a test double:
// a real manager would need 100 tasks scheduled onto a node it believes in, which the interop
// metrics test covers at small scale) assigns 100 long-running tasks to a real agentd on a
// private dockerd; once all are RUNNING, GET /metrics on the control socket is timed
// (sequential scrapes, as Prometheus makes them) next to GET /status, and the text must say
// 100 running with 100 assignment-to-running observations.
import test from 'ava';
import http from 'node:http';
import { startDockerd } from '../../scripts/lib/dockerd.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { removeNodeState, startLocalAgentd, waitUp } from '../fixtures/local-agentd.js';
import { FakeManager, containerTask, taskId } from '../fixtures/test-manager.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { parsePromText, sampleValue } from '../harness/prom-text.js';

const TASKS = 100;
const SCRAPES = 50;
/** 100 containers on a loaded 2-core machine: generous. */
const ALL_RUNNING_TIMEOUT_MS = 4 * 60_000;
/** The bound a scrape must stay under (Prometheus' default scrape timeout is 10 s). */
const SCRAPE_MEDIAN_BOUND_MS = 500;

function timedGet(socketPath: string, path: string): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, body }) : reject(new Error(`${path}: HTTP ${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

test('a scrape with 100 tasks known: every task counted, each start timed, median under 500 ms', async (t) => {
  t.timeout(5 * 60_000);
  const engine = await startDockerd();
  t.teardown(() => engine.stop());
  const fake = await FakeManager.start({ heartbeatPeriodMs: 500 });
  t.teardown(() => fake.close());
  const agentd = await startLocalAgentd({ manager: fake.address, dockerd: engine, joinToken: fake.workerToken, logLevel: 'info' });
  t.teardown(async () => {
    await agentd.destroy();
    await removeNodeState(agentd.stateDir);
  });
  await waitUp(agentd);

  const ids = Array.from({ length: TASKS }, () => taskId());
  fake.assign(ids.map((id, i) => containerTask(id, { service: 'scrape', slot: i + 1 })));
  const t0 = Date.now();
  await waitFor(`${TASKS} tasks RUNNING`, async () => ids.every((id) => fake.lastStatus(id)?.state === TaskState.RUNNING), ALL_RUNNING_TIMEOUT_MS, 500);
  t.log(`${TASKS} tasks RUNNING in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const scrapes: number[] = [];
  let body = '';
  for (let i = 0; i < SCRAPES; i++) {
    const r = await timedGet(agentd.controlSocket, '/metrics');
    scrapes.push(r.ms);
    body = r.body;
  }
  const statuses: number[] = [];
  for (let i = 0; i < SCRAPES; i++) statuses.push((await timedGet(agentd.controlSocket, '/status')).ms);
  const families = parsePromText(body);
  t.is(sampleValue(families, 'berth_tasks', { state: 'running' }), TASKS);
  t.is(sampleValue(families, 'berth_task_assignment_to_running_seconds_count'), TASKS);
  t.true(sampleValue(families, 'berth_session_heartbeat_rtt_seconds_count') >= 1);
  const p50 = percentile(scrapes, 0.5);
  t.log(
    `GET /metrics (${families.size} families, ${body.length} bytes): median ${p50.toFixed(1)} ms, p95 ${percentile(scrapes, 0.95).toFixed(1)} ms, max ${Math.max(...scrapes).toFixed(1)} ms; ` +
      `GET /status: median ${percentile(statuses, 0.5).toFixed(1)} ms; assignment to RUNNING mean ${(sampleValue(families, 'berth_task_assignment_to_running_seconds_sum') / TASKS).toFixed(2)} s`,
  );
  t.true(p50 < SCRAPE_MEDIAN_BOUND_MS, `median scrape ${p50.toFixed(1)} ms`);
});
