// Services created on a real Swarm manager, run by agentd on its private dockerd: secrets and
// configs, rejected secret targets, health, stop grace periods, and `docker service logs`
// (answered by berth's LogBroker, run here with the node's own identity).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createHosts, type Underlay } from '../../scripts/lib/hosts.js';
import { startDockerd, type PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager, type SwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { run, waitFor } from '../../scripts/lib/exec.js';
import { TEST_IMAGE } from '../../scripts/lib/images.js';
import { DEFAULT_TASKS_ROOT, TaskDirs } from '../../agent/exec/docker/task-dir.js';


let underlay: Underlay;
let manager: SwarmManager;
let engine: PrivateDockerd;
let agent: AgentdProcess;
let nodeId: string;

test.before(async () => {
  underlay = await createHosts(2);
  manager = await startSwarmManager(underlay.hosts[0]!);
  engine = await startDockerd({ host: underlay.hosts[1]! });
  agent = await startAgentd({ host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken });
  nodeId = (await waitConnected(agent)).nodeId;
});

test.after.always(async () => {
  await agent?.destroy().catch(() => undefined);
  if (nodeId) await new TaskDirs().removeOwnedBy(nodeId);
  await engine?.stop().catch(() => undefined);
  await manager?.stop().catch(() => undefined);
  await underlay?.destroy().catch(() => undefined);
});

const docker = (args: string[], input?: string) =>
  input === undefined ? manager.dockerd.docker(args) : run('/usr/bin/docker', ['-H', manager.dockerd.dockerHost, ...args], { input });

async function createService(name: string, flags: string[], command: string[]): Promise<void> {
  await docker(['service', 'create', '--detach', '--no-resolve-image', '--name', name, '--constraint', `node.id==${nodeId}`, ...flags, TEST_IMAGE, ...command]);
}

interface PsLine {
  id: string;
  desired: string;
  current: string;
  error: string;
}

async function servicePs(name: string): Promise<PsLine[]> {
  const out = (await docker(['service', 'ps', name, '--no-trunc', '--format', '{{.ID}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}'])).stdout.trim();
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, desired, current, error] = l.split('|') as [string, string, string, string];
      return { id, desired, current, error };
    });
}

async function runningTask(name: string): Promise<PsLine> {
  return waitFor(`${name} Running`, async () => (await servicePs(name)).find((p) => p.current.startsWith('Running')), 30_000);
}

async function containerOf(taskId: string): Promise<string> {
  return waitFor(
    `the container of task ${taskId}`,
    async () => (await engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.task.id=${taskId}`])).stdout.trim(),
    10_000,
  );
}

/** Removes a service and waits until the berth node has removed every container and task tmpfs. */
async function removeService(name: string): Promise<void> {
  const tasks = (await servicePs(name)).map((p) => p.id);
  await docker(['service', 'rm', name]);
  await waitFor(`${name}'s containers removed`, async () => (await engine.docker(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${name}`])).stdout.trim() === '', 30_000);
  await waitFor(`${name}'s task directories removed`, async () => tasks.every((id) => !existsSync(`${DEFAULT_TASKS_ROOT}/${id}`)), 10_000);
}

test.serial('--secret and --config appear with the right content, owner and mode; no value leaks; rm removes the tmpfs', async (t) => {
  const value = `pw-${randomBytes(8).toString('hex')}`;
  await docker(['secret', 'create', 'db_pass', '-'], value);
  await docker(['config', 'create', 'app_conf', '-'], 'listen=8080\n');
  await createService(
    'sec',
    ['--secret', 'source=db_pass,target=db_pass,uid=1000,gid=1001,mode=0400', '--secret', 'source=db_pass,target=/etc/db_pass_copy', '--config', 'source=app_conf,target=/etc/app.conf,mode=0440,gid=1001', '--user', '1000'],
    ['sleep', '3600'],
  );
  const task = await runningTask('sec');
  const id = await containerOf(task.id);
  const exec = async (script: string) => (await engine.docker(['exec', id, 'sh', '-c', script])).stdout;
  t.is(await exec('cat /run/secrets/db_pass'), value);
  t.is(await exec('cat /etc/db_pass_copy'), value);
  t.is(await exec('stat -c "%u %g %a" /run/secrets/db_pass /etc/db_pass_copy /etc/app.conf'), '1000 1001 400\n0 0 444\n0 1001 440\n');
  t.is((await engine.docker(['exec', '-u', '0', id, 'cat', '/etc/app.conf'])).stdout, 'listen=8080\n');
  const inspect = (await engine.docker(['inspect', id])).stdout;
  t.false(inspect.includes(value), 'docker inspect shows no secret value');
  t.false(JSON.stringify((JSON.parse(inspect) as Array<{ Config: { Env: string[] } }>)[0]!.Config.Env).includes(value));
  const dir = `${DEFAULT_TASKS_ROOT}/${task.id}`;
  t.true(existsSync(dir), 'the task tmpfs exists while the task runs');
  await removeService('sec');
  await waitFor('the task tmpfs removed', async () => !existsSync(dir), 10_000);
  t.false(agent.logs().includes(value), "agentd's log shows no secret value");
});

test.serial('a bad secret target is rejected and docker service ps says why', async (t) => {
  await docker(['secret', 'create', 'tok', '-'], 'x');
  await createService('badsec', ['--secret', 'source=tok,target=../../etc/evil'], ['sleep', '3600']);
  const rejected = await waitFor('a Rejected task', async () => (await servicePs('badsec')).find((p) => p.current.startsWith('Rejected')), 30_000);
  t.regex(rejected.error, /secret "tok": target "\.\.\/\.\.\/etc\/evil" contains '\.\.'/);
  t.is((await engine.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=badsec'])).stdout.trim(), '', 'no container made');
  await removeService('badsec');
});

test.serial('a missing image is rejected with its name', async (t) => {
  await createService('noimg', [], ['sleep', '1']);
  await docker(['service', 'update', '--detach', '--no-resolve-image', '--image', 'local/not-here:1', 'noimg']);
  const rejected = await waitFor('a Rejected task for the missing image', async () => (await servicePs('noimg')).find((p) => p.current.startsWith('Rejected') && p.error.includes('local/not-here:1')), 60_000);
  t.regex(rejected.error, /No such image: local\/not-here:1/);
  await removeService('noimg');
});

test.serial('a failing --health-cmd gets the task replaced; a passing one runs', async (t) => {
  await createService('sick', ['--health-cmd', 'false', '--health-interval', '300ms', '--health-retries', '1', '--health-timeout', '1s'], ['sleep', '3600']);
  const failed = await waitFor('a task Failed as unhealthy and a replacement', async () => {
    const ps = await servicePs('sick');
    const f = ps.find((p) => p.current.startsWith('Failed'));
    return f && ps.length >= 2 ? f : undefined;
  }, 60_000);
  t.regex(failed.error, /container unhealthy/);
  await removeService('sick');

  await createService('well', ['--health-cmd', 'true', '--health-interval', '300ms'], ['sleep', '3600']);
  const task = await runningTask('well');
  t.is((await engine.docker(['inspect', '-f', '{{.State.Health.Status}}', await containerOf(task.id)])).stdout.trim(), 'healthy');
  await removeService('well');
});

test.serial('a task ignoring SIGTERM is killed at the end of its grace period and reaches Shutdown', async (t) => {
  await createService('stubborn', ['--stop-grace-period', '2s'], ['sh', '-c', 'trap "" TERM; while true; do sleep 0.2; done']);
  const task = await runningTask('stubborn');
  const id = await containerOf(task.id);
  const t0 = Date.now();
  await docker(['service', 'scale', '--detach', 'stubborn=0']);
  const down = await waitFor('the task Shutdown', async () => (await servicePs('stubborn')).find((p) => p.id === task.id && p.current.startsWith('Shutdown')), 30_000);
  const took = Date.now() - t0;
  t.truthy(down);
  t.true(took >= 1_800, `shutdown after ${took} ms: the grace period was not honoured`);
  t.true(took < 15_000, `shutdown after ${took} ms`);
  t.is((await engine.docker(['inspect', '-f', '{{.State.ExitCode}}', id])).stdout.trim(), '137');
  t.log(`SIGTERM ignored → Shutdown reported ${took} ms after scale 0`);
  await removeService('stubborn');
});

test.serial("docker service logs shows the task output through agentd's LogBroker", async (t) => {
  await createService('chatty', [], ['sh', '-c', 'echo hello-from-berth; echo oops-on-stderr >&2; echo line-three; sleep 3600']);
  const task = await runningTask('chatty');
  let last = '';
  const out = await waitFor(
    'the task output in docker service logs',
    async () => {
      const r = await docker(['service', 'logs', '--no-task-ids', '--timestamps', 'chatty']);
      last = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
      return (r.stdout + r.stderr).includes('line-three') ? { stdout: r.stdout, stderr: r.stderr } : undefined;
    },
    30_000,
    500,
  ).catch((err: unknown) => {
    t.log(`last docker service logs:\n${last}\nagentd log tail:\n${agent.logs().split('\n').slice(-30).join('\n')}`);
    throw err;
  });
  t.regex(out.stdout, /chatty\.1@\S+\s+\| hello-from-berth\n/);
  t.regex(out.stdout, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z chatty\.1@\S+\s+\| line-three\n/);
  t.regex(out.stderr, /oops-on-stderr/);
  t.notRegex(out.stdout, /\n\n/, 'no doubled newlines');
  const tail = await docker(['service', 'logs', '--raw', '--tail', '1', 'chatty']);
  t.is((tail.stdout + tail.stderr).trim().split('\n').length, 1, `--tail 1 gave:\n${tail.stdout}${tail.stderr}`);
  t.false(agent.logs().includes('publishing logs failed'), 'every PublishLogs ended cleanly (close: true answered by "No message received")');
  t.log(`task ${task.id}: logs served by agentd`);
  await removeService('chatty');
});
