// Runs a real agentd process against a private dockerd: the built one (dist/, the layout the
// package installs; rebuilt first when a source is newer), or any agentd command given (the
// installed /usr/bin/agentd). Inside a test host's namespace (nsenter), or in the test's own
// namespace when no host is given (to reach a fake manager on 127.0.0.1). The command execs
// down to agentd itself, so SIGKILL hits the agent, not a wrapper. Its working directory is /,
// so nothing it finds is found through the source tree. Logs go to a file the test can read.
import { closeSync, openSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { controlRequest } from '../../agent/control.js';
import { loadIdentity } from '../../agent/ca/identity.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';
import type { AgentStatus } from '../../agent/agent.js';
import { HarnessError, StopWaiting, runQuiet, uniqueName, waitFor } from './exec.js';
import { builtAgentd } from './built.js';
import type { PrivateDockerd } from './dockerd.js';
import type { TestHost } from './hosts.js';

const STOP_TIMEOUT_MS = 10_000;
const STATUS_TIMEOUT_MS = 2_000;
const BASE = '/var/lib/berth-test';

export interface AgentdOptions {
  /** Run inside this host's namespace; omit to run in the test's own. */
  host?: TestHost;
  dockerd: PrivateDockerd;
  manager: string;
  joinToken?: string;
  hostname?: string;
  /** Reuse a state dir (restart tests); it is then left for its owner to remove. */
  stateDir?: string;
  logLevel?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** The agentd argv to run (default: the built agentd on this process's Node); it must exec
   *  down to agentd, as /usr/bin/agentd does. */
  command?: readonly string[];
  /** Outlive this process (the quickstart); by default agentd is killed when the test process exits. */
  detached?: boolean;
}

export interface AgentdProcess {
  readonly stateDir: string;
  readonly controlSocket: string;
  readonly logPath: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  status(): Promise<AgentStatus>;
  logs(): string;
  /** Sends a signal and waits for exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Kills agentd and removes its control dir, log and (if it made it) its state. */
  destroy(): Promise<void>;
}

export async function startAgentd(opts: AgentdOptions): Promise<AgentdProcess> {
  const id = uniqueName('a');
  const ownState = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? `${BASE}/${id}-state`;
  const controlDir = `/run/bt/${id}`;
  const controlSocket = `${controlDir}/agentd.sock`;
  const logPath = `${BASE}/${id}.log`;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const [agentdCmd, ...agentdCmdArgs] = opts.command ?? (await builtAgentd());
  if (agentdCmd === undefined) throw new HarnessError('E_AGENTD_SPAWN', 'an empty agentd command');
  const agentdArgs = [
    ...agentdCmdArgs,
    '--manager',
    opts.manager,
    '--state-dir',
    stateDir,
    '--docker-host',
    opts.dockerd.dockerHost,
    '--hostname',
    opts.hostname ?? opts.host?.name ?? id,
    ...(opts.host ? ['--advertise-addr', opts.host.address] : []),
    '--control-socket',
    controlSocket,
    // Overlay namespaces pinned per agent, so nodes sharing this machine never collide.
    '--netns-dir',
    `${controlDir}/netns`,
    '--log-level',
    opts.logLevel ?? 'debug',
    ...(opts.joinToken ? ['--join-token', opts.joinToken] : []),
    ...(opts.extraArgs ?? []),
  ];
  const [cmd, args] = opts.host ? ['nsenter', [`--net=${opts.host.netnsPath}`, agentdCmd, ...agentdArgs]] : [agentdCmd, agentdArgs];
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd: '/', env: { ...process.env, ...opts.env }, detached: opts.detached ?? false });
  closeSync(fd);
  if (opts.detached) child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new HarnessError('E_AGENTD_SPAWN', 'could not spawn agentd');
  let done = false;
  // If the test process ends without its teardown (a timeout), agentd must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  if (!opts.detached) process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, sig) => {
      done = true;
      process.removeListener('exit', killOnExit);
      resolve(code ?? (sig ? -1 : null));
    }),
  );
  const logs = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const proc: AgentdProcess = {
    stateDir,
    controlSocket,
    logPath,
    pid,
    exited,
    status: () => controlRequest(controlSocket, '/status', STATUS_TIMEOUT_MS) as Promise<AgentStatus>,
    logs,
    async kill(signal = 'SIGTERM') {
      if (!done) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(t);
      }
      return exited;
    },
    async destroy() {
      await proc.kill('SIGKILL');
      if (ownState) await removeNodeState(stateDir);
      await unpinNamespaces(`${controlDir}/netns`);
      await rm(controlDir, { recursive: true, force: true });
      await rm(logPath, { force: true });
    },
  };
  return proc;
}

/** Overlay namespaces stay pinned after agentd dies (by design); a finished test unpins them. */
async function unpinNamespaces(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) await runQuiet('umount', [join(dir, f)]);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes a node's state dir and the task directories (/run/berth/tasks, tmpfs with secrets)
 * its agent made, which outlive agentd by design. Call once the node is done for good.
 */
export async function removeNodeState(stateDir: string): Promise<void> {
  const identity = loadIdentity(stateDir);
  if (identity) await new TaskDirs().removeOwnedBy(identity.info.nodeId).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
}

/** Waits until agentd has a session with a manager; fails at once, with its log, if it exits. */
export async function waitConnected(a: AgentdProcess, timeoutMs = 30_000): Promise<AgentStatus> {
  let exitCode: number | null | undefined;
  void a.exited.then((c) => (exitCode = c));
  const tail = () => a.logs().split('\n').slice(-30).join('\n');
  return waitFor(
    'agentd to connect to the manager',
    async () => {
      if (exitCode !== undefined) throw new StopWaiting(new HarnessError('E_AGENTD_EXITED', `agentd exited (${exitCode}) before connecting:\n${tail()}`));
      const s = await a.status().catch(() => undefined);
      return s?.connected ? s : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: unknown) => {
    if (err instanceof HarnessError && err.code === 'E_AGENTD_EXITED') throw err;
    throw new HarnessError('E_AGENTD', `${(err as Error).message}\n--- agentd log ---\n${tail()}`, { cause: err });
  });
}
