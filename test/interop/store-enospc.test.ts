// A full disk under agentd, against real parts: its state dir is a small tmpfs, filled to ENOSPC
// (a filler file) while a real manager scales a service up on the node and one running task's
// container dies, then freed. Before the fix the refused status write (the dead task's FAILED)
// was an unhandled rejection and agentd died, and every refused task record ended the session
// (a reconnect loop). Now: the same process and session keep running, `agentctl status` says
// degraded while the disk is full, the other running task keeps running, nothing unstored
// reaches the manager, and once the filler is gone every task the manager wants reaches Running
// on the manager, each with exactly one container on the engine.
import test from 'ava';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startBerthCluster } from '../harness/cluster.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';
import { StopWaiting, run, runQuiet, uniqueName, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { builtAgentctl } from '../../scripts/lib/built.js';
import { logRecords } from '../fixtures/local-agentd.js';

const TMPFS_SIZE = '4m';
const REPLICAS_BEFORE = 2;
const REPLICAS_AFTER = 9;
/** How long the disk stays full once agentd said it is degraded: long enough for several retries at the backoff cap. */
const FULL_FOR_MS = 12_000;

async function freeBytes(dir: string): Promise<number> {
  const out = (await run('df', ['--output=avail', '-B1', dir])).stdout.trim().split('\n');
  return Number(out[out.length - 1]);
}

test('state dir full (ENOSPC) during an assignment burst: agentd stays up and degraded, then loses nothing once freed', async (t) => {
  const stateDir = `/var/lib/berth-test/${uniqueName('enospc')}-state`;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', stateDir]);
  // Teardowns run last-registered first: agentd goes, then its task dirs, then the mount.
  t.teardown(async () => {
    await runQuiet('umount', [stateDir]);
    await rm(stateDir, { recursive: true, force: true });
  });

  const { manager, engine, agentd: a, status: st } = await startBerthCluster(t, { stateDir, extraArgs: ['--no-data-plane'] });
  t.teardown(() => new TaskDirs().removeOwnedBy(st.nodeId));
  const pid = a.pid;
  let exited: number | null | undefined;
  void a.exited.then((c) => (exited = c));
  const docker = (args: string[]) => manager.dockerd.docker(args).then((r) => r.stdout.trim());
  const running = async () => (await docker(['service', 'ps', 'web', '--filter', 'desired-state=running', '--format', '{{.ID}} {{.CurrentState}}'])).split('\n').filter((l) => / Running /.test(l));

  await docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'web', '--replicas', String(REPLICAS_BEFORE), '--constraint', `node.id==${st.nodeId}`, '--stop-grace-period', '1s', TEST_IMAGE, 'sleep', '3600']);
  await waitFor('the first replica Running', async () => (await running()).length === REPLICAS_BEFORE, 60_000);
  const [survivor, victim] = (await engine.docker(['ps', '-q', '--filter', 'label=io.berth.role=task'])).stdout.trim().split('\n');
  const before = await a.status();
  const reportedBefore = before.statusesReported;

  // Fill the tmpfs: dd stops at ENOSPC.
  const filler = join(stateDir, 'filler');
  await runQuiet('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k']);
  t.is(await freeBytes(stateDir), 0, 'the state dir is full');

  await docker(['service', 'scale', '--detach', `web=${REPLICAS_AFTER}`]);
  const burstAt = Date.now();
  const degraded = await waitFor('agentd degraded', async () => {
    if (exited !== undefined) throw new StopWaiting(new Error(`agentd exited (${exited}) on the full disk:\n${a.logs().split('\n').slice(-15).join('\n')}`));
    const s = await a.status();
    return s.stateDir.state === 'degraded' ? s : undefined;
  }, 60_000);
  const degradedAt = Date.now();
  t.log(`degraded ${degradedAt - burstAt} ms after the scale-up; last error: ${degraded.stateDir.lastError}`);
  t.regex(degraded.stateDir.lastError ?? '', /ENOSPC/);
  // A task's container dies while the disk is full: its FAILED must wait for the disk too.
  await engine.docker(['kill', victim!]);

  await new Promise((r) => setTimeout(r, FULL_FOR_MS));
  const [agentctl, ...agentctlArgs] = await builtAgentctl();
  const cli = (await run(agentctl, [...agentctlArgs, '--socket', a.controlSocket, 'status'])).stdout;
  t.regex(cli, /state dir: +degraded since .*write\(s\) waiting.*ENOSPC/, 'agentctl status shows the degraded state');
  const whileFull = await a.status();
  t.is(whileFull.stateDir.state, 'degraded', 'still degraded while the disk is full');
  t.true(whileFull.stateDir.failedAttempts > 1, 'retried');
  t.is(exited, undefined, 'agentd still running while the disk is full');
  const runningWhileFull = await running();
  t.is(runningWhileFull.length, REPLICAS_BEFORE, 'the manager heard of nothing the store could not hold (the dead task is still Running to it)');
  t.is(whileFull.sessions.failed, before.sessions.failed, 'the session stayed up');
  t.regex((await engine.docker(['inspect', '-f', '{{.State.Running}}', survivor!])).stdout, /true/, 'the other task kept running');
  t.log(`while full: ${whileFull.stateDir.failedAttempts} failed write attempts, ${whileFull.stateDir.pendingWrites} writes waiting, ${runningWhileFull.length} Running on the manager`);

  await rm(filler);
  const freedAt = Date.now();
  await waitFor('agentd no longer degraded', async () => (await a.status()).stateDir.state === 'ok', 60_000);
  const okAt = Date.now();
  const all = await waitFor('every replica Running on the manager', async () => {
    const r = await running();
    return r.length === REPLICAS_AFTER ? r : undefined;
  }, 120_000);
  const allAt = Date.now();
  t.log(`freed: writable again after ${okAt - freedAt} ms, all ${REPLICAS_AFTER} Running on the manager after ${allAt - freedAt} ms; degraded for ${okAt - degradedAt} ms`);

  t.is(a.pid, pid);
  t.is(exited, undefined, 'the same agentd process throughout');
  // One running container per task the manager runs here, and never two containers for one task.
  const wanted = (await docker(['service', 'ps', 'web', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{.ID}}'])).split('\n').filter(Boolean).sort();
  t.is(wanted.length, all.length);
  const containers = (await engine.docker(['ps', '-a', '--filter', 'label=io.berth.role=task', '--format', '{{.Label "com.docker.swarm.task.id"}} {{.State}}'])).stdout.trim().split('\n').filter(Boolean);
  const runningIds = containers.filter((c) => c.endsWith(' running')).map((c) => c.split(' ')[0]).sort();
  t.deepEqual(runningIds, wanted, 'exactly one running container per task the manager wants running');
  const allIds = containers.map((c) => c.split(' ')[0]);
  t.is(new Set(allIds).size, allIds.length, 'no task has two containers');
  const shutDown = await docker(['service', 'ps', 'web', '--filter', 'desired-state=shutdown', '--format', '{{.CurrentState}}']);
  t.regex(shutDown, /Failed/, "the dead task's FAILED reached the manager once stored");
  const after = await a.status();
  t.true(after.statusesReported > reportedBefore, 'reporting resumed');
  t.is(after.stateDir.degradedPeriods, 1);
  t.is(after.stateDir.pendingWrites, 0);
  t.is(after.sessions.failed, before.sessions.failed, 'the session stayed up throughout');

  const logs = logRecords(a.logs());
  t.true(logs.some((l) => /agentd is degraded/.test(String(l.msg))), 'the degraded state is logged');
  t.true(logs.some((l) => /no longer degraded/.test(String(l.msg))), 'and its end');
  t.false(logs.some((l) => /unexpected error/.test(String(l.msg))), 'no runner or report stopped on an error');
  t.log(`failed write attempts in all: ${after.stateDir.failedAttempts}; statuses reported: ${reportedBefore} before the fault, ${after.statusesReported} after`);
});
