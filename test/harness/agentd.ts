// Runs a real agentd process (from source, through tsx) inside a test host's namespace,
// against that host's private dockerd. Logs go to a file the test can read.
import { closeSync, openSync, readFileSync, existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { controlRequest } from '../../agent/control.js';
import { loadIdentity } from '../../agent/ca/identity.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';
import type { AgentStatus } from '../../agent/agent.js';
import { HarnessError, sleep, spawnDaemon, uniqueName, waitFor } from './exec.js';
import { PROJECT_ROOT } from './images.js';
import type { PrivateDockerd } from './dockerd.js';
import type { TestHost } from './hosts.js';

const AGENTD_ENTRY = join(PROJECT_ROOT, 'agent', 'cli', 'agentd.ts');
const STOP_TIMEOUT_MS = 10_000;

export interface AgentdOptions {
  host: TestHost;
  dockerd: PrivateDockerd;
  manager: string;
  joinToken?: string;
  hostname?: string;
  /** Reuse a state dir (restart tests); default a fresh one. */
  stateDir?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
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
  /** Removes the state dir (after kill). */
  destroy(): Promise<void>;
}

export async function startAgentd(opts: AgentdOptions): Promise<AgentdProcess> {
  const id = uniqueName('a');
  const stateDir = opts.stateDir ?? `/var/lib/berth-test/${id}-state`;
  const controlSocket = `/run/bt/${id}/agentd.sock`;
  const logPath = `/var/lib/berth-test/${id}.log`;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const args = [
    `--net=${opts.host.netnsPath}`,
    process.execPath,
    '--import',
    'tsx',
    AGENTD_ENTRY,
    '--manager',
    opts.manager,
    '--state-dir',
    stateDir,
    '--docker-host',
    opts.dockerd.dockerHost,
    '--hostname',
    opts.hostname ?? opts.host.name,
    '--advertise-addr',
    opts.host.address,
    '--control-socket',
    controlSocket,
    '--log-level',
    'debug',
    ...(opts.joinToken ? ['--join-token', opts.joinToken] : []),
    ...(opts.extraArgs ?? []),
  ];
  const fd = openSync(logPath, 'a');
  const child: ChildProcess = spawnDaemon('nsenter', args, { stdio: ['ignore', fd, fd], cwd: PROJECT_ROOT, env: { ...process.env, ...opts.env }, detached: false });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new HarnessError('E_AGENTD_SPAWN', 'could not spawn agentd');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  let done = false;
  void exited.then(() => (done = true));
  const logs = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const proc: AgentdProcess = {
    stateDir,
    controlSocket,
    logPath,
    pid,
    exited,
    status: () => controlRequest(controlSocket, '/status') as Promise<AgentStatus>,
    logs,
    async kill(signal = 'SIGTERM') {
      if (!done) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(t);
        return code;
      }
      return exited;
    },
    async destroy() {
      await proc.kill('SIGKILL');
      // Task directories (tmpfs with secrets) live under /run/berth/tasks, tagged with the node id.
      const identity = loadIdentity(stateDir);
      if (identity) await new TaskDirs().removeOwnedBy(identity.info.nodeId).catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
      await rm(`/run/bt/${id}`, { recursive: true, force: true });
      await rm(logPath, { force: true });
    },
  };
  return proc;
}

/** Waits until agentd answers on its control socket with a connected session. */
export async function waitConnected(a: AgentdProcess, timeoutMs = 30_000): Promise<AgentStatus> {
  return waitFor(
    'agentd to connect to the manager',
    async () => {
      if (await Promise.race([a.exited.then(() => true), sleep(0).then(() => false)])) {
        throw new HarnessError('E_AGENTD_EXITED', `agentd exited:\n${a.logs().split('\n').slice(-20).join('\n')}`);
      }
      const s = await a.status();
      return s.connected ? s : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: unknown) => {
    throw new HarnessError('E_AGENTD', `${(err as Error).message}\n--- agentd log ---\n${a.logs().split('\n').slice(-30).join('\n')}`, { cause: err });
  });
}
