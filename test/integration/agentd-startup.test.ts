// agentd's first seconds, as systemd and an operator see them, against a manager address
// nothing answers on (a closed port on 127.0.0.1): the control socket answers at once with the
// phase (joining, then retrying with the error and the next attempt); stderr lines carry a
// syslog <N> prefix per level when JOURNAL_STREAM names stderr; a configuration error exits 78
// (the unit's RestartPreventExitStatus), any other failure 1.
import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { controlRequest } from '../../agent/control.js';
import { EXIT_CONFIG_ERROR } from '../../agent/config.js';
import type { AgentStatus } from '../../agent/agent.js';
import { uniqueName, waitFor } from '../../scripts/lib/exec.js';
import { builtAgentctl, builtAgentd } from '../../scripts/lib/built.js';

/** The built agentd and agentctl (dist/, what ships), resolved once before the tests. */
let agentdArgv: string[] = [];
let agentctlArgv: string[] = [];
test.before(async () => {
  agentdArgv = await builtAgentd();
  agentctlArgv = await builtAgentctl();
});
const BASE = '/var/lib/berth-test';
// A valid-looking worker token for a cluster that does not exist (the join never gets that far).
const TOKEN = `SWMTKN-1-${'0'.repeat(50)}-${'a'.repeat(25)}`;

interface Run {
  dir: string;
  socket: string;
  stderrPath: string;
  exited: Promise<number | null>;
  stderr(): string;
  kill(): Promise<void>;
}

/** A port on 127.0.0.1 that refuses connections (bound once, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function startAgentdRaw(t: { teardown(fn: () => Promise<void>): void }, args: string[], env: NodeJS.ProcessEnv = {}, journal = false): Run {
  const id = uniqueName('st');
  const dir = `${BASE}/${id}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = `/run/bt/${id}/agentd.sock`;
  const stderrPath = `${dir}/stderr`;
  writeFileSync(stderrPath, '');
  const fd = openSync(stderrPath, 'a');
  const st = fstatSync(fd, { bigint: true });
  const child = spawn(
    agentdArgv[0]!,
    [...agentdArgv.slice(1), '--state-dir', `${dir}/state`, '--control-socket', socket, '--no-data-plane', '--docker-host', `unix://${dir}/no-docker.sock`, ...args],
    { stdio: ['ignore', 'ignore', fd], cwd: '/', env: { ...process.env, ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : {}), ...env } },
  );
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const kill = async () => {
    if (!done) child.kill('SIGKILL');
    await exited;
  };
  t.teardown(async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
    await rm(`/run/bt/${id}`, { recursive: true, force: true });
  });
  return { dir, socket, stderrPath, exited, stderr: () => readFileSync(stderrPath, 'utf8'), kill };
}

function agentctl(socket: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(agentctlArgv[0]!, [...agentctlArgv.slice(1), '--socket', socket, ...args], { cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test.serial('the control socket answers while agentd joins and retries: state, last error, next attempt', async (t) => {
  const manager = `127.0.0.1:${await closedPort()}`;
  const t0 = Date.now();
  const a = startAgentdRaw(t, ['--manager', manager, '--join-token', TOKEN, '--log-level', 'debug']);
  const first = await waitFor('a first answer on the control socket', () => controlRequest(a.socket, '/status', 2_000) as Promise<AgentStatus>, 30_000, 50);
  t.log(`process start → control socket answers: ${Date.now() - t0} ms (state ${first.state.state})`);
  t.true(['joining', 'retrying'].includes(first.state.state));
  t.is(first.nodeId, '');
  t.false(first.connected);

  const retrying = await waitFor(
    'state retrying with a next attempt',
    async () => {
      const s = (await controlRequest(a.socket, '/status', 2_000)) as AgentStatus;
      return s.state.state === 'retrying' && s.state.nextAttemptAt ? s : undefined;
    },
    60_000,
  );
  t.is(retrying.state.attempt, 'join');
  t.is(retrying.state.manager, manager);
  t.true(retrying.state.failures >= 1);
  t.truthy(retrying.state.lastError);
  t.true(Date.parse(retrying.state.nextAttemptAt!) > Date.parse(retrying.state.since) - 1, 'the next attempt is after the failure');

  const human = await agentctl(a.socket, ['status']);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^state: +(retrying|joining) since /m);
  t.regex(human.stdout, /^node: +not joined yet/m);
  t.notRegex(human.stdout + human.stderr, /not running/);
  const json = await agentctl(a.socket, ['status', '--json']);
  t.is((JSON.parse(json.stdout) as AgentStatus).state.manager, manager);
});

test.serial('stderr is the journal (JOURNAL_STREAM): each line has its level priority; elsewhere plain JSON', async (t) => {
  const manager = `127.0.0.1:${await closedPort()}`;
  const journal = startAgentdRaw(t, ['--manager', manager, '--join-token', TOKEN, '--log-level', 'debug'], {}, true);
  const plain = startAgentdRaw(t, ['--manager', manager, '--join-token', TOKEN, '--log-level', 'debug']);
  const line = (r: Run) => waitFor('a "join failed; retrying" line', async () => r.stderr().split('\n').find((l) => l.includes('join failed; retrying')), 60_000);
  t.regex(await line(journal), /^<4>\{"level":40,/);
  t.regex(await line(plain), /^\{"level":40,/);
  const lines = journal.stderr().split('\n').filter((l) => l !== '');
  for (const l of lines) t.regex(l, /^<[2-7]>\{"level":\d+,/, l);
});

test.serial('a configuration error exits 78 (EX_CONFIG), and only a configuration error does', async (t) => {
  t.is(EXIT_CONFIG_ERROR, 78);
  const cases: Array<[string, string[], RegExp]> = [
    ['bad log level', ['--log-level', 'loud'], /log level "loud" is not one of/],
    ['unknown flag', ['--no-such-flag'], /unknown option '--no-such-flag'/],
    ['bad reconcile interval', ['--reconcile-interval', 'soon'], /not a duration/],
    ['no identity and no token', ['--manager', '127.0.0.1:1'], /E_NO_IDENTITY/],
  ];
  for (const [what, args, message] of cases) {
    const r = startAgentdRaw(t, args);
    t.is(await r.exited, EXIT_CONFIG_ERROR, `${what}: ${r.stderr()}`);
    t.regex(r.stderr(), message, what);
  }
  // Not configuration: the control socket's path is taken by a regular file.
  const file = `${BASE}/${uniqueName('nosock')}`;
  writeFileSync(file, '');
  t.teardown(() => rm(file, { force: true }));
  const blocked = startAgentdRaw(t, ['--manager', '127.0.0.1:1', '--join-token', TOKEN, '--control-socket', file]);
  t.is(await blocked.exited, 1, blocked.stderr());
  t.regex(blocked.stderr(), /E_CONTROL_SOCKET_NOT_SOCKET/);
  const help = startAgentdRaw(t, ['--help']);
  t.is(await help.exited, 0);
});
