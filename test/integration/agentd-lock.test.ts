// One agentd per state dir: a second one exits at once naming the first's pid, and a lock left
// by a killed agentd (kill -9) never blocks the restart. The real processes here never reach a
// manager or an engine: they take the lock first thing, then retry joining 127.0.0.1:1 forever,
// which is enough to hold it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateLockedError } from '../../agent/errors.js';
import { STATE_LOCK_FILE, lockStateDir } from '../../agent/state-lock.js';
import { startAgentd, type AgentdProcess } from '../../scripts/lib/agentd.js';
import type { PrivateDockerd } from '../../scripts/lib/dockerd.js';
import { waitFor } from '../../scripts/lib/exec.js';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

const JOIN_TOKEN = `SWMTKN-1-${'1'.repeat(50)}-${'b'.repeat(25)}`;
/** Nothing answers there: agentd retries the join (holding its lock) until it is killed. */
const NO_MANAGER = '127.0.0.1:1';
const NO_ENGINE = { dockerHost: 'unix:///nonexistent/docker.sock' } as PrivateDockerd;

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'berth-lock-'));
}

/** Another process holding the lock on dir until killed. */
async function holderProcess(dir: string): Promise<{ pid: number; kill9(): Promise<void> }> {
  const script = `import { lockStateDir } from './agent/state-lock.ts'; lockStateDir(${JSON.stringify(dir)}); process.stdout.write('locked\\n'); setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code})`)));
  });
  return {
    pid: child.pid!,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

test('a second lock on the same state dir fails, naming the holder; released, it can be taken again', (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lock = lockStateDir(dir);
  const err = t.throws(() => lockStateDir(dir), { instanceOf: StateLockedError });
  t.is(err?.code, 'E_STATE_LOCKED');
  t.is(err?.holderPid, process.pid);
  t.true(err?.message.includes(dir));
  t.true(err?.message.includes(`pid ${process.pid}`));
  lock.release();
  lockStateDir(dir).release();
});

test('a lock held by another process is refused; after kill -9 of that process it is replaced', async (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const holder = await holderProcess(dir);
  t.teardown(() => holder.kill9());
  const err = t.throws(() => lockStateDir(dir), { instanceOf: StateLockedError });
  t.is(err?.holderPid, holder.pid);
  await holder.kill9();
  const lock = lockStateDir(dir);
  t.is(lock.replacedStale?.pid, holder.pid);
  lock.release();
});

test('a lock naming a live process that is not its holder (a reused pid) is replaced, as is a garbled one', (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, STATE_LOCK_FILE);
  // Our parent is alive, but did not start at tick 1.
  writeFileSync(path, JSON.stringify({ pid: process.ppid, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), startTime: '1' }));
  const lock = lockStateDir(dir);
  t.is(lock.replacedStale?.pid, process.ppid);
  lock.release();
  writeFileSync(path, 'garbage');
  lockStateDir(dir).release();
});

test('release leaves a lock that is no longer its own', (t) => {
  const dir = scratch();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lock = lockStateDir(dir);
  const path = join(dir, STATE_LOCK_FILE);
  writeFileSync(path, 'someone else');
  lock.release();
  t.is(readFileSync(path, 'utf8'), 'someone else');
});

function agentdOn(stateDir: string): Promise<AgentdProcess> {
  return startAgentd({ dockerd: NO_ENGINE, manager: NO_MANAGER, joinToken: JOIN_TOKEN, stateDir, extraArgs: ['--no-data-plane'] });
}

/** Past the lock: the join loop has logged its first retry. */
async function waitHolding(a: AgentdProcess): Promise<void> {
  let exitCode: number | null | undefined;
  void a.exited.then((c) => (exitCode = c));
  await waitFor('agentd to retry its join', async () => {
    if (exitCode !== undefined) throw new Error(`agentd exited (${exitCode}):\n${a.logs()}`);
    return a.logs().includes('join failed; retrying');
  }, 20_000);
}

test('a second agentd on the same state dir exits at once naming the first; after kill -9 of the first a new one starts', async (t) => {
  const stateDir = scratch();
  const started: AgentdProcess[] = [];
  t.teardown(async () => {
    for (const a of started) await a.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const first = await agentdOn(stateDir);
  started.push(first);
  await waitHolding(first);

  const second = await agentdOn(stateDir);
  started.push(second);
  const code = await Promise.race([second.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 15_000))]);
  t.is(code, 1, second.logs());
  t.regex(second.logs(), /E_STATE_LOCKED/);
  t.true(second.logs().includes(`pid ${first.pid}`), second.logs());
  t.false(second.logs().includes('join failed'));

  await first.kill('SIGKILL');
  const third = await agentdOn(stateDir);
  started.push(third);
  await waitHolding(third);
  t.notRegex(third.logs(), /E_STATE_LOCKED/);
});
