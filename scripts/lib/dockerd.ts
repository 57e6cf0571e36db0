// A private Docker Engine per test host: its own data-root, exec-root, pidfile and socket,
// started inside the host's network namespace and stopped by pid. Several run side by side.
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { mkdir, rm, readFile, readdir } from 'node:fs/promises';
import Docker from 'dockerode';
import { HarnessError, requireCommand, requireRoot, run, runQuiet, sleep, spawnDaemon, uniqueName, waitFor, type RunResult } from './exec.js';
import { importImages } from './images.js';
import type { TestHost } from './hosts.js';

const DATA_ROOT_BASE = '/var/lib/berth-test';
// Short: containerd's socket lives under the exec-root and unix socket paths max out at 108 bytes.
const EXEC_ROOT_BASE = '/run/bt';
const DOCKER_CLI = '/usr/bin/docker';
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 20_000;

export interface PrivateDockerd {
  readonly name: string;
  /** unix:///... for DOCKER_HOST / dockerode / docker -H. */
  readonly dockerHost: string;
  readonly socketPath: string;
  readonly pid: number;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logPath: string;
  readonly host: TestHost | undefined;
  readonly client: Docker;
  /** Runs the docker CLI against this engine. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** Stops the daemon (SIGTERM, or SIGKILL with hard) and starts it again on the same state. */
  restart(opts?: { hard?: boolean; downMs?: number }): Promise<void>;
  /** Stops the daemon but keeps its state, for `up()` to start it again (restart() in two halves). */
  down(opts?: { hard?: boolean }): Promise<void>;
  /** Starts a daemon stopped with `down()` on the same state and waits until it answers. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** Start inside this test host's network namespace (recommended: one engine per host). */
  host?: TestHost;
  /** Import local/busybox:test and berth/pause:local after start (default true); 'test-only':
   *  only local/busybox:test, so the sandbox image is agentd's own to import. */
  images?: boolean | 'test-only';
  extraArgs?: string[];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function unmountUnder(prefixes: string[]): Promise<void> {
  // dockerd normally unmounts on a clean stop; after a kill, overlay and netns mounts remain.
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await runQuiet('umount', ['-l', m]);
}

/**
 * Containers this engine left running when it stopped: live-restore keeps them by design, and an
 * engine killed and not started again leaves them too. Their shims are found by this engine's
 * containerd address (under its exec root); each container's init (and so its PID namespace)
 * is killed, then the shim. Best effort: a stop must go on whatever this meets.
 */
async function killLeftContainers(execRoot: string): Promise<void> {
  const procs: { pid: number; ppid: number; shim: boolean }[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const [cmdline, stat] = await Promise.all([readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''), readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')]);
    const args = cmdline.split('\0');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const shim = (args[0] ?? '').endsWith('containerd-shim-runc-v2') && args.some((a) => a.startsWith(`${execRoot}/`));
    procs.push({ pid: Number(entry), ppid, shim });
  }
  const shims = new Set(procs.filter((p) => p.shim).map((p) => p.pid));
  const signal = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  for (const p of procs) if (shims.has(p.ppid)) signal(p.pid);
  for (const pid of shims) signal(pid);
}

export async function startDockerd(opts: DockerdOptions = {}): Promise<PrivateDockerd> {
  requireRoot('the dockerd harness');
  const dockerd = requireCommand('dockerd', 'docker.io');
  requireCommand(DOCKER_CLI, 'docker.io');
  const name = uniqueName('d');
  const dataRoot = `${DATA_ROOT_BASE}/${name}`;
  const execRoot = `${EXEC_ROOT_BASE}/${name}`;
  const socketPath = `${execRoot}/docker.sock`;
  const pidfile = `${execRoot}/dockerd.pid`;
  const logPath = `${dataRoot}.log`;
  await mkdir(dataRoot, { recursive: true });
  await mkdir(execRoot, { recursive: true });
  const args = [
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', pidfile,
    '-H', `unix://${socketPath}`,
    '--storage-driver', 'overlay2',
    '--log-level', 'info',
    ...(opts.host ? [] : ['--bridge=none', '--iptables=false', '--ip-masq=false']),
    ...(opts.extraArgs ?? []),
  ];
  const cmd = opts.host ? 'nsenter' : dockerd;
  const fullArgs = opts.host ? [`--net=${opts.host.netnsPath}`, dockerd, ...args] : args;
  const spawnEngine = (): number => {
    const logFd = openSync(logPath, 'a');
    const child = spawnDaemon(cmd, fullArgs, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.unref();
    if (child.pid === undefined) throw new HarnessError('E_DOCKERD_START', `could not spawn dockerd (log: ${logPath})`);
    return child.pid;
  };
  let pid = spawnEngine();
  const client = new Docker({ socketPath });
  const logTail = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '');
  const kill = async (hard: boolean) => {
    if (isAlive(pid)) {
      process.kill(pid, hard ? 'SIGKILL' : 'SIGTERM');
      const deadline = Date.now() + STOP_GRACE_MS;
      while (isAlive(pid) && Date.now() < deadline) await sleep(100);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(50);
    }
  };
  const waitReady = () =>
    waitFor(
      `dockerd ${name} to answer on ${socketPath}`,
      async () => {
        if (!isAlive(pid)) throw new HarnessError('E_DOCKERD_EXITED', `dockerd exited during start:\n${logTail()}`);
        await client.ping();
        return true;
      },
      START_TIMEOUT_MS,
    );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kill(false);
    await killLeftContainers(execRoot);
    await unmountUnder([dataRoot, execRoot]);
    await rm(dataRoot, { recursive: true, force: true });
    await rm(execRoot, { recursive: true, force: true });
    await rm(logPath, { force: true });
  };
  const engine: PrivateDockerd = {
    name,
    dockerHost: `unix://${socketPath}`,
    socketPath,
    get pid() {
      return pid;
    },
    dataRoot,
    execRoot,
    logPath,
    host: opts.host,
    client,
    docker: (a, timeoutMs) => run(DOCKER_CLI, ['-H', `unix://${socketPath}`, ...a], { timeoutMs: timeoutMs ?? 60_000 }),
    async restart(r = {}) {
      await engine.down(r);
      if (r.downMs) await sleep(r.downMs);
      await engine.up();
    },
    async down(r = {}) {
      await kill(r.hard ?? false);
      if (r.hard) await unmountUnder([execRoot]);
    },
    async up() {
      if (isAlive(pid)) return;
      pid = spawnEngine();
      await waitReady();
    },
    stop,
  };
  try {
    await waitReady();
    const images = opts.images ?? true;
    if (images !== false) await importImages(engine.dockerHost, { pause: images === true });
  } catch (err) {
    const tail = logTail();
    await stop().catch(() => undefined);
    throw new HarnessError('E_DOCKERD_START', `dockerd ${name} did not start: ${(err as Error).message}\n--- dockerd log ---\n${tail}`, { cause: err });
  }
  return engine;
}
