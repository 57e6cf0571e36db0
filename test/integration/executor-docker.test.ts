// The Docker executor's controllers against a private dockerd: secrets and configs on a task
// tmpfs, sandbox, health gating, graceful stop, adoption, orphans, logs.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { DockerExecutor } from '../../agent/exec/docker/executor.js';
import { TaskRunner } from '../../agent/worker/task-runner.js';
import { TaskState } from '../../agent/worker/task-state.js';
import { listBerthContainers } from '../../agent/exec/docker/inventory.js';
import { mountPoints } from '../../agent/exec/docker/task-dir.js';
import { TaskError, type LogSubscription } from '../../agent/exec/executor.js';
import type { SandboxNetworking } from '../../netd/index.js';
import type { LogMessageIn, Task } from '../../agent/proto/api.js';
import { config, configRef, duration, makeTask, secret, secretRef, type SpecPatch } from '../unit/exec-fixture.js';

let engine: PrivateDockerd;
const ROOT = `/run/bt-exec-${randomBytes(3).toString('hex')}`;

test.before(async () => {
  engine = await startDockerd();
});
test.after.always(async () => {
  await engine?.stop();
  for (const m of [...(await mountPoints())].filter((p) => p.startsWith(`${ROOT}/`))) execFileSync('umount', ['-l', m]);
  await rm(ROOT, { recursive: true, force: true });
});

function executor(opts: { sandbox?: boolean; dependencyWaitMs?: number } = {}): DockerExecutor {
  // This engine runs with --bridge=none, so tasks berth does not plumb get no network.
  return new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: opts.dependencyWaitMs ?? 0, defaultNetworkMode: 'none', ...(opts.sandbox ? { sandbox: true } : {}) });
}

const never = new AbortController().signal;
/** A start whose change was lost ends within the controller's recheck period and then some. */
const LOST_EVENT_BOUND_MS = 15_000;

async function sh(task: Task, script: string, user?: string): Promise<string> {
  return (await engine.docker(['exec', ...(user ? ['-u', user] : []), `web.1.${task.id}`, 'sh', '-c', script])).stdout;
}

async function containersOf(task: Task): Promise<string[]> {
  return (await engine.docker(['ps', '-a', '--filter', `label=io.berth.task.id=${task.id}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean).sort();
}

/** Waits until the task's script has installed its traps (it touches /tmp/ready). */
async function ready(task: Task): Promise<void> {
  await waitFor('the task script ready', async () => (await sh(task, 'test -f /tmp/ready && echo yes').catch(() => '')).trim() === 'yes', 10_000, 50);
}

function runningTask(spec: SpecPatch = {}): Task {
  return makeTask({ args: ['sh', '-c', 'echo started; exec sleep 1000'], ...spec });
}

async function expectTaskError(t: import('ava').ExecutionContext, p: Promise<unknown>, code: string): Promise<TaskError> {
  const err = await t.throwsAsync(p, { instanceOf: TaskError });
  t.is(err!.code, code, err!.message);
  return err!;
}

test('secrets and configs land on the task tmpfs with their owner and mode; remove() takes everything away', async (t) => {
  const ex = executor();
  const pw = `s3cr3t-${randomBytes(4).toString('hex')}`;
  ex.dependencies.setSecret(secret('sec1', 'db_pass', pw));
  ex.dependencies.setConfig(config('cfg1', 'app.conf', 'name={{.Service.Name}} slot={{.Task.Slot}}', 'golang'));
  ex.dependencies.setConfig(config('cfg2', 'plain', 'plain config\n'));
  const task = runningTask({
    user: '1000',
    secrets: [secretRef('sec1', 'db_pass', 'db_pass', { uid: '1000', gid: '1001', mode: 0o400 }), secretRef('sec1', 'db_pass', '/etc/pw-copy', { mode: 0o444 })],
    configs: [configRef('cfg1', 'app.conf', '/etc/app.conf'), configRef('cfg2', 'plain', 'plain.txt', { mode: 0o640, gid: '1000' })],
    dns_config: { nameservers: ['9.9.9.9'], search: ['corp.example'], options: [] },
  } as never);
  const c = ex.controller(task);
  await c.prepare(never);
  const dir = `${ROOT}/${task.id}`;
  t.true((await mountPoints()).has(dir), 'the task directory is a tmpfs mount');
  t.is(statSync(dir).mode & 0o777, 0o700);
  await c.start(never);

  t.is(await sh(task, 'cat /run/secrets/db_pass'), pw, 'the task user (1000) reads its 0400 secret');
  t.is(await sh(task, 'stat -c "%u %g %a" /run/secrets/db_pass /etc/pw-copy /etc/app.conf /plain.txt'), '1000 1001 400\n0 0 444\n0 0 444\n0 1000 640\n');
  t.is(await sh(task, 'cat /etc/app.conf'), 'name=web slot=1');
  await t.throwsAsync(sh(task, 'cat /plain.txt'), { message: /Permission denied/ }, 'mode 0640 root:1000 is closed to uid 1000 gid 0');
  t.is(await sh(task, 'cat /plain.txt', '0'), 'plain config\n');
  await t.throwsAsync(sh(task, 'echo x > /run/secrets/db_pass'), undefined, 'read-only in the container');
  // No overlay, so no embedded DNS: the engine writes resolv.conf from the spec, as on Docker.
  const resolv = await sh(task, 'cat /etc/resolv.conf');
  t.regex(resolv, /^search corp\.example$/m);
  t.regex(resolv, /^nameserver 9\.9\.9\.9$/m);
  t.notRegex(resolv, /127\.0\.0\.11/);
  const inspect = (await engine.docker(['inspect', `web.1.${task.id}`])).stdout;
  t.false(inspect.includes(pw), 'no secret value in docker inspect');

  t.like(await c.containerStatus(), { exitCode: 0 });
  await c.shutdown(never);
  await c.remove();
  t.deepEqual(await containersOf(task), []);
  t.false((await mountPoints()).has(dir), 'tmpfs unmounted');
  t.false(existsSync(dir), 'directory removed');
  await c.remove(); // idempotent
});

test('a missing secret, a bad target and an oversized secret reject the task with a message naming it', async (t) => {
  const ex = executor();
  const missing = ex.controller(runningTask({ secrets: [secretRef('nope', 'api_key', 'api_key')] } as never));
  const e1 = await expectTaskError(t, missing.prepare(never), 'E_DEPENDENCY_MISSING');
  t.regex(e1.message, /secret "api_key" \(nope\)/);
  t.false(e1.temporary);

  ex.dependencies.setSecret(secret('s-ok', 'x', 'x'));
  const badTarget = ex.controller(runningTask({ secrets: [secretRef('s-ok', 'x', '../../etc/shadow')] } as never));
  t.throws(() => (badTarget as unknown as { plan(): unknown }).plan(), { message: /secret "x": target "\.\.\/\.\.\/etc\/shadow" contains '\.\.'/ });
  const e2 = await t.throwsAsync(badTarget.prepare(never), { instanceOf: TaskError });
  t.false(e2!.temporary);

  ex.dependencies.setSecret(secret('big', 'huge', Buffer.alloc(500 * 1024 + 1, 'a')));
  const task = runningTask({ secrets: [secretRef('big', 'huge', 'huge')] } as never);
  const e3 = await expectTaskError(t, ex.controller(task).prepare(never), 'E_DEPENDENCY_TOO_LARGE');
  t.regex(e3.message, /secret "huge" \(big\) is 512001 bytes; the limit is 512000/);
  t.false(existsSync(`${ROOT}/${task.id}`), 'nothing left behind by a rejected task');
});

test('a secret that arrives late (agent restart) is waited for', async (t) => {
  const ex = executor({ dependencyWaitMs: 5_000 });
  const task = runningTask({ secrets: [secretRef('late', 'late', 'late')] } as never);
  const c = ex.controller(task);
  setTimeout(() => ex.dependencies.setSecret(secret('late', 'late', 'arrived')), 300);
  await c.prepare(never);
  await c.start(never);
  t.is(await sh(task, 'cat /run/secrets/late'), 'arrived');
  await c.remove();
});

test('a missing image is rejected with its name', async (t) => {
  const c = executor().controller(makeTask({ image: 'local/not-here:1' }));
  const err = await expectTaskError(t, c.prepare(never), 'E_IMAGE');
  t.regex(err.message, /No such image: local\/not-here:1/);
  t.false(err.temporary);
});

test('exit codes: 0 completes, non-zero fails with the code', async (t) => {
  const ex = executor();
  const okTask = makeTask({ args: ['true'] });
  const ok = ex.controller(okTask);
  await ok.prepare(never);
  t.false(existsSync(`${ROOT}/${okTask.id}`), 'nothing to mount (no secrets, configs or resolv.conf of ours): no task directory');
  t.false(existsSync(`${ROOT}/${okTask.id}/resolv.conf`), 'the engine\'s resolv.conf for a task berth does not plumb');
  t.is((await engine.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', `web.1.${okTask.id}`])).stdout.trim(), 'none', 'one container on the default network (none on this engine), as on Docker');
  await ok.start(never);
  t.deepEqual(await ok.wait(never), { exitCode: 0 });
  const bad = makeTask({ args: ['sh', '-c', 'exit 3'] });
  const c = ex.controller(bad);
  await c.prepare(never);
  await c.start(never);
  const err = await expectTaskError(t, c.wait(never), 'E_EXIT');
  t.is(err.exitCode, 3);
  t.is(err.message, 'task: non-zero exit (3)');
  t.like(await c.containerStatus(), { exitCode: 3 });
  await ok.remove();
  await c.remove();
});

test('sandbox: a pause container owns the netns; hostname, hosts and resolv.conf as specified; remove() removes both', async (t) => {
  const ex = executor({ sandbox: true });
  const task = runningTask({ hostname: '{{.Service.Name}}-{{.Task.Slot}}', hosts: ['10.1.2.3 db db.local'], dns_config: { nameservers: [], search: ['a.example', 'b.example'], options: ['timeout:1'] } } as never);
  const c = ex.controller(task);
  await c.prepare(never);
  await c.start(never);
  t.deepEqual(await containersOf(task), [`berth-sandbox.${task.id}`, `web.1.${task.id}`]);
  const [sandboxPid, taskPid] = await Promise.all(
    [`berth-sandbox.${task.id}`, `web.1.${task.id}`].map(async (n) => (await engine.docker(['inspect', '-f', '{{.State.Pid}}', n])).stdout.trim()),
  );
  const netns = (pid: string) => statSync(`/proc/${pid}/ns/net`).ino;
  t.is(netns(taskPid!), netns(sandboxPid!), 'the task container joined the sandbox netns');
  const sandboxId = (await engine.docker(['inspect', '-f', '{{.Id}}', `berth-sandbox.${task.id}`])).stdout.trim();
  t.is((await engine.docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', `web.1.${task.id}`])).stdout.trim(), `container:${sandboxId}`);
  t.is(await sh(task, 'hostname'), 'web-1\n');
  t.regex(await sh(task, 'cat /etc/hosts'), /10\.1\.2\.3\s+db\n10\.1\.2\.3\s+db\.local/);
  const resolv = await sh(task, 'cat /etc/resolv.conf');
  t.regex(resolv, /^search a\.example b\.example$/m, 'the spec\'s DNS settings reach the engine through the sandbox');
  t.regex(resolv, /^options timeout:1$/m);
  const sandbox = (await listBerthContainers(engine.client)).filter((b) => b.taskId === task.id);
  t.deepEqual(sandbox.map((b) => b.role).sort(), ['sandbox', 'task']);
  await c.shutdown(never);
  t.is((await engine.docker(['inspect', '-f', '{{.State.Status}}', `berth-sandbox.${task.id}`])).stdout.trim(), 'exited', 'shutdown stops the sandbox too');
  await c.remove();
  t.deepEqual(await containersOf(task), []);
});

const health = (test: string[], intervalMs: number, retries: number) => ({ test, interval: duration(intervalMs), timeout: duration(2000), retries, start_period: null, start_interval: null });

test('health: start() resolves only once the container is healthy', async (t) => {
  const ex = executor();
  const task = makeTask({ args: ['sh', '-c', 'sleep 1; touch /tmp/ok; exec sleep 1000'], healthcheck: health(['CMD', 'test', '-f', '/tmp/ok'], 200, 15) } as never);
  const c = ex.controller(task);
  await c.prepare(never);
  const t0 = Date.now();
  await c.start(never);
  const took = Date.now() - t0;
  t.true(took >= 900, `start took ${took} ms, before the check could pass`);
  t.is((await engine.docker(['inspect', '-f', '{{.State.Health.Status}}', `web.1.${task.id}`])).stdout.trim(), 'healthy');
  await c.start(never); // adopted and already healthy: returns at once
  await c.remove();
});

test('health: an unhealthy container is stopped and fails with "container unhealthy" (while starting and while running)', async (t) => {
  const ex = executor();
  const never1 = makeTask({ args: ['sleep', '1000'], healthcheck: health(['CMD', 'false'], 200, 1) } as never);
  const c1 = ex.controller(never1);
  await c1.prepare(never);
  const e1 = await expectTaskError(t, c1.start(never), 'E_UNHEALTHY');
  t.is(e1.message, 'container unhealthy');
  t.is((await engine.docker(['inspect', '-f', '{{.State.Running}}', `web.1.${never1.id}`])).stdout.trim(), 'false');

  const later = makeTask({ args: ['sh', '-c', 'touch /tmp/ok; sleep 1.5; rm /tmp/ok; exec sleep 1000'], healthcheck: health(['CMD', 'test', '-f', '/tmp/ok'], 200, 1) } as never);
  const c2 = ex.controller(later);
  await c2.prepare(never);
  await c2.start(never);
  const e2 = await expectTaskError(t, c2.wait(never), 'E_UNHEALTHY');
  t.is(e2.message, 'container unhealthy');
  t.not(e2.exitCode, undefined);
  await c1.remove();
  await c2.remove();
});

/**
 * The real engine, except that its event stream never delivers anything: a fake of one fault,
 * an event lost in the engine's subscription gap (moby's events handler answers before it
 * subscribes, so a change right after the request is lost: measured 1 in 300 under load). It
 * cannot be produced on demand, and a start that trusted events alone stayed STARTING for good.
 */
function silentEventsEngine(): Docker {
  return new Proxy(engine.client, {
    get(target, prop, receiver) {
      if (prop === 'getEvents') return async () => new PassThrough();
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test('health: with every engine event lost, start() still ends — healthy, exited non-zero, or unhealthy', async (t) => {
  const ex = new DockerExecutor(silentEventsEngine(), { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'none' });
  const bound = <T>(p: Promise<T>, what: string) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: start() still waiting after ${LOST_EVENT_BOUND_MS} ms`)), LOST_EVENT_BOUND_MS).unref())]);
  const healthy = makeTask({ args: ['sh', '-c', 'touch /tmp/ok; exec sleep 1000'], healthcheck: health(['CMD', 'test', '-f', '/tmp/ok'], 200, 15) } as never);
  const exits = makeTask({ args: ['false'], healthcheck: health(['CMD', 'true'], 200, 1) } as never);
  const unhealthy = makeTask({ args: ['sleep', '1000'], healthcheck: health(['CMD', 'false'], 200, 1) } as never);
  const controllers = [healthy, exits, unhealthy].map((task) => ex.controller(task));
  try {
    for (const c of controllers) await c.prepare(never);
    await bound(controllers[0]!.start(never), 'a container turning healthy');
    const exit = await t.throwsAsync(bound(controllers[1]!.start(never), 'a container exiting 1'), { instanceOf: TaskError });
    t.is(exit?.code, 'E_EXIT');
    const bad = await t.throwsAsync(bound(controllers[2]!.start(never), 'a container turning unhealthy'), { instanceOf: TaskError });
    t.is(bad?.code, 'E_UNHEALTHY');
  } finally {
    for (const c of controllers) await c.remove();
  }
});

test('a shutdown request interrupts a start still waiting for health: the task reaches SHUTDOWN, not RUNNING first', async (t) => {
  // A check that has not run yet (first probe after an hour): the start waits in "starting".
  const task = makeTask({ args: ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"], healthcheck: health(['CMD', 'true'], 3_600_000, 1) } as never);
  const states: number[] = [];
  const runner = new TaskRunner(task, { state: TaskState.ASSIGNED, message: 'assigned', timestamp: new Date().toISOString() }, { executor: executor(), saveStatus: (_id, s) => states.push(s.state), log: () => undefined });
  try {
    await waitFor('the task STARTING', async () => states.includes(TaskState.STARTING), 30_000, 50);
    const asked = Date.now();
    runner.update({ ...task, desired_state: TaskState.SHUTDOWN } as never);
    await waitFor('the task SHUTDOWN', async () => states.includes(TaskState.SHUTDOWN), 30_000, 50);
    t.log(`STARTING → SHUTDOWN ${Date.now() - asked} ms after the request`);
    t.false(states.includes(TaskState.RUNNING), 'never reported RUNNING');
    t.is((await engine.docker(['inspect', '-f', '{{.State.Running}}', `web.1.${task.id}`])).stdout.trim(), 'false', 'its container is stopped');
  } finally {
    await runner.remove();
  }
});

test('shutdown honours the grace period: a container ignoring SIGTERM is killed when it ends', async (t) => {
  const ex = executor();
  const stubborn = makeTask({ args: ['sh', '-c', 'trap "" TERM; touch /tmp/ready; while true; do sleep 0.1; done'], stop_grace_period: duration(1500) } as never);
  const c = ex.controller(stubborn);
  await c.prepare(never);
  await c.start(never);
  await ready(stubborn);
  const waiting = c.wait(never).catch((e: unknown) => e);
  const t0 = Date.now();
  await c.shutdown(never);
  const took = Date.now() - t0;
  t.true(took >= 1400 && took < 6000, `shutdown took ${took} ms for a 1.5 s grace period`);
  t.is((await engine.docker(['inspect', '-f', '{{.State.ExitCode}}', `web.1.${stubborn.id}`])).stdout.trim(), '137');
  t.is(((await waiting) as TaskError).exitCode, 137);

  const polite = makeTask({ args: ['sh', '-c', 'trap "exit 7" USR1; touch /tmp/ready; while true; do sleep 0.1; done'], stop_signal: 'SIGUSR1', stop_grace_period: duration(10_000) } as never);
  const p = ex.controller(polite);
  await p.prepare(never);
  await p.start(never);
  await ready(polite);
  const t1 = Date.now();
  await p.shutdown(never);
  t.true(Date.now() - t1 < 3000, 'the stop signal was delivered');
  t.is((await engine.docker(['inspect', '-f', '{{.State.ExitCode}}', `web.1.${polite.id}`])).stdout.trim(), '7');
  await c.remove();
  await p.remove();
});

test('adoption: a new controller for the same task finds its containers and makes no duplicate', async (t) => {
  const ex = executor({ sandbox: true });
  const task = runningTask();
  const first = ex.controller(task);
  await first.prepare(never);
  await first.start(never);
  const before = (await engine.docker(['inspect', '-f', '{{.Id}}', `web.1.${task.id}`])).stdout.trim();
  // As after an agent restart: a fresh executor and controller, the same task.
  const again = executor({ sandbox: true }).controller(task);
  await again.prepare(never);
  await again.start(never);
  t.deepEqual(await containersOf(task), [`berth-sandbox.${task.id}`, `web.1.${task.id}`]);
  t.is((await engine.docker(['inspect', '-f', '{{.Id}}', `web.1.${task.id}`])).stdout.trim(), before);
  const ac = new AbortController();
  const waiting = again.wait(ac.signal);
  setTimeout(() => ac.abort(), 200);
  await t.throwsAsync(waiting);
  await again.remove();

  // A prepared (never started) task whose sandbox was removed behind our back still starts.
  const orphaned = runningTask();
  const o1 = ex.controller(orphaned);
  await o1.prepare(never);
  await engine.docker(['rm', '-f', `berth-sandbox.${orphaned.id}`]);
  await ex.controller(orphaned).start(never);
  t.is((await engine.docker(['inspect', '-f', '{{.State.Running}}', `web.1.${orphaned.id}`])).stdout.trim(), 'true');
  await o1.remove();

  // The agent died after starting a short task but before recording RUNNING: starting it again
  // must not fail (nor start it twice); wait() then reports how it ended.
  const quick = makeTask({ args: ['sh', '-c', 'echo once >> /tmp/runs; exit 0'] });
  const q1 = ex.controller(quick);
  await q1.prepare(never);
  await q1.start(never);
  await waitFor('the quick task exited', async () => (await engine.docker(['inspect', '-f', '{{.State.Status}}', `web.1.${quick.id}`])).stdout.trim() === 'exited', 10_000, 50);
  const q2 = executor({ sandbox: true }).controller(quick);
  await q2.prepare(never);
  await q2.start(never);
  t.deepEqual(await q2.wait(never), { exitCode: 0 });
  t.is((await engine.docker(['inspect', '-f', '{{.RestartCount}} {{.State.ExitCode}}', `web.1.${quick.id}`])).stdout.trim(), '0 0');
  await q2.remove();
});

/**
 * A recording stand-in for netd's controller (a fake, named so: this is about when the Docker
 * controller plumbs, not about plumbing; the real controller runs in the interop suite). Like the
 * real one, it answers isAttached only for the namespace it attached, while that still exists.
 */
function recordingNetworking() {
  const attaches: Array<{ task: string; netnsPath: string }> = [];
  const attached = new Map<string, string>();
  const networking: SandboxNetworking & { setNetworkBootstrapKeys(): void; setNodeAttachments(): Promise<void> } = {
    wants: (n) => n.attachments.length > 0,
    attach: async (n, netnsPath) => {
      attaches.push({ task: n.taskId, netnsPath });
      attached.set(n.taskId, netnsPath);
      return {};
    },
    isAttached: (taskId, netnsPath) => attached.get(taskId) === netnsPath && existsSync(netnsPath),
    setHealthy: () => undefined,
    unpublish: async () => undefined,
    detach: async (taskId) => void attached.delete(taskId),
    setNetworkBootstrapKeys: () => undefined,
    setNodeAttachments: async () => undefined,
  };
  return { networking, attaches };
}

function overlayTask(spec: SpecPatch = {}): Task {
  const task = runningTask(spec);
  return {
    ...task,
    networks: [
      {
        network: { id: 'net-app', spec: { annotations: { name: 'appnet' }, ingress: false }, driver_state: { name: 'overlay', options: {} }, ipam: { configs: [] } },
        addresses: ['10.9.0.5/24'],
        aliases: [],
      },
    ],
  } as unknown as Task;
}

test('a task on an overlay is plumbed once: prepare attaches, start and wait only check; a restart of agentd or of the sandbox plumbs again', async (t) => {
  const first = recordingNetworking();
  const ex = new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'none', networking: first.networking });
  const task = overlayTask();
  const c = ex.controller(task);
  await c.prepare(never);
  t.is(first.attaches.length, 1, 'prepare plumbs');
  t.regex(first.attaches[0]!.netnsPath, /^\/proc\/\d+\/ns\/net$/);
  await c.start(never);
  const ac = new AbortController();
  const waiting = c.wait(ac.signal);
  setTimeout(() => ac.abort(), 300);
  await t.throwsAsync(waiting);
  t.is(first.attaches.length, 1, 'start and wait found it attached');

  // As after an agentd restart: new networking state, new controller; start plumbs again.
  const second = recordingNetworking();
  const again = new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'none', networking: second.networking }).controller(task);
  await again.start(never);
  t.is(second.attaches.length, 1, 'a restarted agent re-plumbs the running task');
  t.is(second.attaches[0]!.netnsPath, first.attaches[0]!.netnsPath, 'the same sandbox');

  // The sandbox restarted behind our back (a new pid, a new namespace): wait plumbs again.
  await engine.docker(['restart', '-t', '1', `berth-sandbox.${task.id}`]);
  const ac2 = new AbortController();
  const waiting2 = again.wait(ac2.signal);
  setTimeout(() => ac2.abort(), 300);
  await t.throwsAsync(waiting2);
  t.is(second.attaches.length, 2);
  t.not(second.attaches[1]!.netnsPath, second.attaches[0]!.netnsPath);
  await again.remove();
});

for (const variant of ['berth\'s resolv.conf', 'a resolv.conf of its own'] as const) {
  test(`a task on an overlay (${variant}): its sandbox has no engine networking, /etc/hosts is berth's, and is written again after a host reboot`, async (t) => {
    const { networking } = recordingNetworking();
    const make = () => new DockerExecutor(engine.client, { tasksRoot: ROOT, hostname: 'berth-test', dependencyWaitMs: 0, defaultNetworkMode: 'none', networking });
    const ownResolv = { type: 0, source: '/etc/resolv.conf', target: '/etc/resolv.conf', readonly: true, consistency: 0, bind_options: null, volume_options: null, tmpfs_options: null };
    const task = overlayTask(variant === 'a resolv.conf of its own' ? ({ mounts: [ownResolv] } as never) : {});
    const c = make().controller(task);
    await c.prepare(never);
    const sandbox = `berth-sandbox.${task.id}`;
    t.is((await engine.docker(['inspect', '-f', '{{.Config.NetworkDisabled}} {{.HostsPath}}', sandbox])).stdout.trim(), 'true', 'no libnetwork sandbox: no hosts file of the engine');
    const hostname = (await engine.docker(['inspect', '-f', '{{.Config.Hostname}}', sandbox])).stdout.trim();
    const written = await readFile(`${ROOT}/${task.id}/hosts`, 'utf8');
    t.true(written.startsWith('127.0.0.1\tlocalhost\n'), written);
    t.true(written.endsWith(`\n10.9.0.5\t${hostname}\n`), written);

    // As after a host reboot between prepare and start: the sandbox is down and the task
    // directory (on /run) is gone; the task container was made but never started.
    await engine.docker(['stop', '-t', '1', sandbox]);
    await rm(`${ROOT}/${task.id}`, { recursive: true, force: true });
    await make().controller(task).start(never);
    t.true(existsSync(`${ROOT}/${task.id}/.owner`), 'the directory is made again as its own, owner recorded');
    t.is(await sh(task, 'cat /etc/hosts'), written, 'the task sees the file written again');
    t.is(await sh(task, 'cat /proc/sys/net/ipv6/conf/all/disable_ipv6'), '1\n');
    await c.remove();
    t.deepEqual(await containersOf(task), []);
  });
}

test('wait() with a signal aborted before it began (a shutdown racing the runner) returns at once', async (t) => {
  const c = executor().controller(runningTask());
  await c.prepare(never);
  await c.start(never);
  const ac = new AbortController();
  ac.abort(new Error('shutdown'));
  const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
  const outcome = await Promise.race([c.wait(ac.signal).then(() => 'resolved', () => 'rejected'), hung]);
  t.is(outcome, 'rejected', 'the engine wait on a running container must not be left waiting');
  await c.remove();
});

test('a container that cannot start fails the task at once (no retry loop)', async (t) => {
  const c = executor().controller(makeTask({ command: ['/no/such/binary'] }));
  await c.prepare(never);
  const err = await t.throwsAsync(c.start(never), { instanceOf: TaskError });
  t.false(err!.temporary, err!.message);
  t.regex(err!.message, /no such file or directory|not found/i);
  await c.remove();
});

test('orphans: containers and directories of unknown tasks are removed; known ones and other nodes are kept', async (t) => {
  // Its own engine: cleaning up orphans would take the other tests' containers.
  const own = await startDockerd();
  t.teardown(() => own.stop());
  const root = `${ROOT}/orphans`;
  const ex = new DockerExecutor(own.client, { tasksRoot: root, sandbox: true, defaultNetworkMode: 'none', dependencyWaitMs: 0 });
  const containersOf = async (task: Task) =>
    (await own.docker(['ps', '-a', '--filter', `label=io.berth.task.id=${task.id}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean).sort();
  // Each with a secret, so each has a task directory (a task with nothing to mount has none).
  ex.dependencies.setSecret(secret('s-orphans', 'token', 'x'));
  const withSecret = { secrets: [secretRef('s-orphans', 'token', 'token')] } as never;
  const keep = runningTask(withSecret);
  const orphan = runningTask(withSecret);
  const foreign = makeTask({ args: ['true'], secrets: [secretRef('s-orphans', 'token', 'token')] } as never, { node_id: 'othernode0000000000000001' });
  for (const task of [keep, orphan]) {
    const c = ex.controller(task);
    await c.prepare(never);
    await c.start(never);
  }
  await ex.controller(foreign).prepare(never);
  const foreignContainers = await containersOf(foreign);
  const report = await ex.cleanupOrphans(new Set([keep.id, foreign.id]), keep.node_id);
  t.deepEqual(report.containers.sort(), [`berth-sandbox.${orphan.id}`, `web.1.${orphan.id}`]);
  t.deepEqual(report.taskDirs, [orphan.id]);
  t.deepEqual(await containersOf(orphan), []);
  t.is((await containersOf(keep)).length, 2);
  t.deepEqual(await containersOf(foreign), foreignContainers);
  t.true(existsSync(`${root}/${foreign.id}`));
  // A directory made by another node id on the same host is not ours to remove.
  const other = await ex.cleanupOrphans(new Set([keep.id]), keep.node_id);
  t.false(other.taskDirs.includes(foreign.id));
  t.true(existsSync(`${root}/${foreign.id}`));
  await ex.controller(keep).remove();
  t.deepEqual(await ex.taskDirs.removeOwnedBy(foreign.node_id), [foreign.id], "a gone node's directories can be swept by its id");
  t.false(existsSync(`${root}/${foreign.id}`));
  await ex.controller(foreign).remove();
});

function sub(patch: Partial<LogSubscription['options'] & object>, selector: Partial<LogSubscription['selector']>): LogSubscription {
  return { id: randomBytes(4).toString('hex'), selector: { service_ids: [], node_ids: [], task_ids: [], ...selector }, options: { streams: [], follow: false, tail: '0', since: null, ...patch } };
}

async function collect(it: AsyncIterable<LogMessageIn[]>, until?: (all: LogMessageIn[]) => boolean): Promise<LogMessageIn[]> {
  const all: LogMessageIn[] = [];
  for await (const batch of it) {
    all.push(...batch);
    if (until?.(all)) break;
  }
  return all;
}
const text = (ms: LogMessageIn[]) => ms.map((m) => `${m.stream}:${Buffer.from(m.data as Buffer).toString()}`);

test('logs: stdout and stderr with timestamps and task context; tail; follow picks up new tasks', async (t) => {
  const ex = executor();
  const serviceId = `svc${randomBytes(6).toString('hex')}`;
  const task = makeTask({ args: ['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'] }, { service_id: serviceId });
  const c = ex.controller(task);
  await c.prepare(never);
  await c.start(never);
  await c.wait(never);
  const all = await collect(ex.subscribeLogs(sub({}, { service_ids: [serviceId] }), never));
  // stdout and stderr are copied by separate readers: their relative order is not fixed.
  t.deepEqual(text(all).sort(), ['1:one\n', '1:three\n', '2:two\n']);
  t.deepEqual(text(all).filter((l) => l.startsWith('1:')), ['1:one\n', '1:three\n']);
  t.deepEqual(all[0]!.context, { service_id: serviceId, node_id: task.node_id, task_id: task.id });
  t.true(Math.abs(Number(all[0]!.timestamp!.seconds) - Date.now() / 1000) < 60);
  t.deepEqual(text(await collect(ex.subscribeLogs(sub({ streams: [2] }, { task_ids: [task.id] }), never))), ['2:two\n']);
  t.deepEqual(text(await collect(ex.subscribeLogs(sub({ tail: '-2' }, { task_ids: [task.id] }), never))), ['1:three\n']);
  t.deepEqual(await collect(ex.subscribeLogs(sub({}, { service_ids: ['nothing-here'] }), never)), []);

  const ac = new AbortController();
  const following = collect(ex.subscribeLogs(sub({ follow: true }, { service_ids: [serviceId] }), ac.signal), (m) => text(m).includes('1:late\n'));
  await new Promise((r) => setTimeout(r, 300));
  const late = makeTask({ args: ['sh', '-c', 'echo late; exec sleep 1000'] }, { service_id: serviceId });
  const c2 = ex.controller(late);
  await c2.prepare(never);
  await c2.start(never);
  const got = await following;
  ac.abort();
  t.true(text(got).includes('1:late\n'));
  await c.remove();
  await c2.remove();
});

test('a container removed behind our back, and a dockerd restart, are noticed and reported', async (t) => {
  const own = await startDockerd();
  t.teardown(() => own.stop());
  const ex = new DockerExecutor(own.client, { tasksRoot: `${ROOT}/restart`, defaultNetworkMode: 'none', dependencyWaitMs: 0 });
  const gone = runningTask();
  const c1 = ex.controller(gone);
  await c1.prepare(never);
  await c1.start(never);
  const waiting = c1.wait(never);
  await own.docker(['rm', '-f', `web.1.${gone.id}`]);
  const e1 = await t.throwsAsync(waiting, { instanceOf: TaskError });
  t.false(e1!.temporary, e1!.message);
  await expectTaskError(t, c1.wait(never), 'E_NO_CONTAINER');

  const task = runningTask();
  const c2 = ex.controller(task);
  await c2.prepare(never);
  await c2.start(never);
  const during = c2.wait(never).catch((e: unknown) => e as TaskError);
  await own.restart();
  // As the runner does: retry while the failure is temporary (the engine was away).
  let err = await during;
  for (let i = 0; err instanceof TaskError && err.temporary && i < 20; i++) err = await c2.wait(never).catch((e: unknown) => e as TaskError);
  t.true(err instanceof TaskError && err.code === 'E_EXIT' && !err.temporary, String(err));
  t.not((err as TaskError).exitCode, 0, 'the task did not survive the engine restart and says so');
  await c1.remove();
  await c2.remove();
});
