// Runs commands inside qemu guests that boot Debian's own kernel, for what the host kernel lacks
// (IPVS). The guest sees the host's root read-only over 9p with a tmpfs overlay on top, so the
// host's node, tools and this project's node_modules run there unchanged; results come back
// through a second, writable 9p share. Under TCG a boot costs seconds: batch checks per boot.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cleanup, HarnessError, requireCommand, requireRoot, uniqueName } from '../../scripts/lib/exec.js';
import {
  BOOT_MODULES,
  BUSYBOX_APT_PACKAGE,
  BUSYBOX_PATH,
  COMMAND_START_MARKER,
  GUEST_OUT_DIR,
  HOST_SHARE_TAG,
  OUT_FILES,
  OUT_SHARE_TAG,
  buildInitramfs,
  initScript,
  resolveModules,
} from './vm-initramfs.js';
import { extractVmlinux, findKernel, type KernelInfo } from './vm-kernel.js';

export { GUEST_OUT_DIR } from './vm-initramfs.js';

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = join(PROJECT_ROOT, '.cache', 'vm');
/** Bump when the cached artefacts' layout changes in a way the other key parts do not capture. */
const CACHE_FORMAT = '1';
const CACHE_ENTRY_PATTERN = /^(vmlinux|initramfs)-/;
const CACHE_TMP_INFIX = '.tmp-';
/** A build takes seconds; a temp file this old belongs to a builder that died. */
const CACHE_TMP_MAX_AGE_MS = 60 * 60 * 1000;

export const QEMU_BINARY = 'qemu-system-x86_64';
const QEMU_APT_PACKAGE = 'qemu-system-x86';
const DEFAULT_MEMORY_MB = 1024;
/** TCG's "max" model lets the guest's node use newer instructions: measured ~0.8 s faster per node run. */
export const QEMU_CPU = 'max';
export const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1 mitigations=off';
/** `timeout` sends TERM at the deadline and KILL this long after. */
const QEMU_KILL_AFTER_S = 5;
/** Node's own backstop kill, in case `timeout` itself is stuck. */
const BACKSTOP_EXTRA_MS = 15_000;
/** Exit statuses of coreutils `timeout` when it had to TERM, then KILL, its command. */
const TIMEOUT_EXIT_TERM = 124;
const TIMEOUT_EXIT_KILL = 137;
const CONSOLE_TAIL_CHARS = 4_000;
const CONSOLE_MAX_CHARS = 1_000_000;
/** SeaBIOS clears the screen with terminal escapes (ESC [ ... letter, ESC c); they only garble logs. */
const ESC = String.fromCharCode(0x1b);
export const TERMINAL_ESCAPES = new RegExp(`${ESC}(\\[[0-9;?]*[A-Za-z]|c)`, 'g');

const MCAST_PORT_MIN = 20_000;
const MCAST_PORT_MAX = 60_000;
/** A random group per network on top of a random port, so concurrent suites cannot hear each other. */
const MCAST_GROUP_PREFIX = '230.0';
export const MCAST_LOCAL_ADDR = '127.0.0.1';
/** Locally administered prefix qemu uses by convention. */
const MAC_PREFIX = '52:54:00';

const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOSTNAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODULE_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
const TS_SCRIPT_PATTERN = /\.[cm]?ts$/;
/** rc the job script returns when the guest cannot enter the working directory. */
const RC_NO_CWD = 125;

export interface VmGuest {
  /** argv run in the guest's chroot, e.g. guestNode('test/vm/guest/ipvs-check.mjs'). */
  command: readonly string[];
  /** Hostname and label in errors; unique per runInVms call. Defaults to vm0, vm1, ... */
  name?: string;
  /** eth0's address as CIDR (e.g. 10.99.0.1/24); needs `network: true`. */
  address?: string;
  /** Added to the guest command's clean environment (PATH, HOME, LANG, BERTH_VM*). */
  env?: Readonly<Record<string, string>>;
  /** Working directory in the guest; the host's path, since the guest sees the host's root. */
  cwd?: string;
  memoryMb?: number;
  /** Extra kernel modules to modprobe before the command (the boot set is BOOT_MODULES). */
  modules?: readonly string[];
}

export interface RunInVmOptions extends VmGuest {
  /** Boot plus command; qemu is killed after it. */
  timeoutMs: number;
}

export interface RunInVmsOptions {
  timeoutMs: number;
  /** Connect every guest's eth0 to one private segment (qemu socket netdev over loopback multicast). */
  network?: boolean;
}

export interface VmResult {
  name: string;
  /** Exit status of the guest command (not of qemu, which exits 0 either way). */
  rc: number;
  stdout: string;
  stderr: string;
  /** The guest's serial console: kernel messages and /init's own lines. */
  console: string;
  /** qemu start until the guest's /init was about to run the command. */
  bootMs: number;
  /** qemu start until qemu exited. */
  totalMs: number;
}

export interface VmImages {
  kernel: KernelInfo;
  vmlinuxPath: string;
  initramfsPath: string;
}

/**
 * argv running a guest script with the host's node. Plain .mjs is the fast path; a .ts script goes
 * through tsx, which costs ~3 s more per boot under TCG but can import the project's sources.
 */
export function guestNode(script: string, ...args: string[]): string[] {
  if (!TS_SCRIPT_PATTERN.test(script)) return [process.execPath, script, ...args];
  // Resolved on the host so the guest finds tsx whatever its working directory.
  return [process.execPath, '--import', import.meta.resolve('tsx'), script, ...args];
}

// ---- prerequisites and cached images ----

function checkPrerequisites(): void {
  requireRoot('VM tests');
  requireCommand(QEMU_BINARY, QEMU_APT_PACKAGE);
  requireCommand('timeout', 'coreutils');
  if (!existsSync(BUSYBOX_PATH)) {
    throw new HarnessError(
      'E_MISSING_COMMAND',
      `${BUSYBOX_PATH} not found: install the Debian package "${BUSYBOX_APT_PACKAGE}" (npm run setup does it).`,
    );
  }
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

/** Builds `path` once; concurrent builders each write a temp file and the last rename wins. */
async function cached(path: string, build: (tmpPath: string) => Promise<void>): Promise<string> {
  if (existsSync(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}${CACHE_TMP_INFIX}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await build(tmp);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return path;
}

async function fileKey(path: string): Promise<string> {
  const s = await stat(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

/**
 * Drops images of older kernels or init scripts (a vmlinux is ~65 MB) and temp files of builders
 * that died. A running qemu has already read its images, so deleting them under it is harmless.
 */
async function pruneCache(keep: readonly string[]): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(CACHE_DIR)) {
    const path = join(CACHE_DIR, name);
    if (keep.includes(path) || !CACHE_ENTRY_PATTERN.test(name)) continue;
    try {
      if (name.includes(CACHE_TMP_INFIX) && now - (await stat(path)).mtimeMs < CACHE_TMP_MAX_AGE_MS) continue;
      await rm(path, { force: true });
    } catch {
      // a concurrent run pruned or renamed it first
    }
  }
}

let imagesPromise: Promise<VmImages> | undefined;

/** Checks prerequisites and builds (or reuses) the guest kernel and initramfs. */
export function prepareVmImages(): Promise<VmImages> {
  imagesPromise ??= (async () => {
    checkPrerequisites();
    const kernel = await findKernel();
    const kernelKey = await fileKey(kernel.vmlinuzPath);
    const vmlinuxPath = await cached(join(CACHE_DIR, `vmlinux-${kernel.version}-${shortHash(CACHE_FORMAT, kernelKey)}`), (tmp) =>
      extractVmlinux(kernel.vmlinuzPath, tmp),
    );
    const modules = await resolveModules(kernel.modulesDir, BOOT_MODULES);
    const initKey = shortHash(
      CACHE_FORMAT,
      kernelKey,
      await fileKey(BUSYBOX_PATH),
      initScript(),
      modules.map((m) => m.hostPath).join(','),
    );
    const initramfsPath = await cached(join(CACHE_DIR, `initramfs-${kernel.version}-${initKey}.cpio`), async (tmp) =>
      writeFile(tmp, await buildInitramfs(modules)),
    );
    await pruneCache([vmlinuxPath, initramfsPath]);
    return { kernel, vmlinuxPath, initramfsPath };
  })();
  imagesPromise.catch(() => {
    imagesPromise = undefined; // let a later call retry after e.g. installing the missing package
  });
  return imagesPromise;
}

// ---- one guest ----

const liveQemuGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of liveQemuGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface NetworkPlan {
  group: string;
  port: number;
}

interface PlannedGuest extends Required<Pick<VmGuest, 'name' | 'memoryMb' | 'cwd'>> {
  guest: VmGuest;
  mac?: string;
}

function validateGuest(g: VmGuest, name: string, network: boolean): void {
  if (g.command.length === 0) throw new HarnessError('E_VM_USAGE', `guest ${name}: command is empty.`);
  if (!HOSTNAME_PATTERN.test(name)) throw new HarnessError('E_VM_USAGE', `guest name "${name}" is not a valid hostname.`);
  if (g.address !== undefined) {
    const m = CIDR_PATTERN.exec(g.address);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
      throw new HarnessError('E_VM_USAGE', `guest ${name}: address "${g.address}" is not IPv4 CIDR like 10.99.0.1/24.`);
    }
    if (!network) throw new HarnessError('E_VM_USAGE', `guest ${name}: an address needs runInVms(..., { network: true }).`);
  }
  for (const k of Object.keys(g.env ?? {})) {
    if (!ENV_NAME_PATTERN.test(k)) throw new HarnessError('E_VM_USAGE', `guest ${name}: bad environment variable name "${k}".`);
  }
  for (const m of g.modules ?? []) {
    if (!MODULE_NAME_PATTERN.test(m)) throw new HarnessError('E_VM_USAGE', `guest ${name}: bad module name "${m}".`);
  }
}

function jobScript(p: PlannedGuest): string {
  const env: Record<string, string> = {
    PATH: GUEST_PATH,
    HOME: '/root',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    BERTH_VM: '1',
    BERTH_VM_NAME: p.name,
    BERTH_VM_OUT: GUEST_OUT_DIR,
    ...p.guest.env,
  };
  const assignments = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`));
  return [
    `cd ${shellQuote(p.cwd)} || { echo "berth-vm: no directory ${p.cwd} in the guest" >&2; exit ${RC_NO_CWD}; }`,
    `exec env -i ${assignments.join(' ')} ${p.guest.command.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

function configFile(p: PlannedGuest): string {
  return [
    `BERTH_HOSTNAME=${shellQuote(p.name)}`,
    `BERTH_ADDRESS=${shellQuote(p.guest.address ?? '')}`,
    `BERTH_MODULES=${shellQuote((p.guest.modules ?? []).join(' '))}`,
    '',
  ].join('\n');
}

/** qemu splits option strings at commas; a doubled comma is a literal one. */
function qemuOptionValue(v: string): string {
  return v.replaceAll(',', ',,');
}

function qemuArgs(images: VmImages, p: PlannedGuest, outDir: string, net: NetworkPlan | undefined): string[] {
  const args = [
    '-name', uniqueName(`berth-${p.name}-`),
    '-accel', 'tcg',
    '-cpu', QEMU_CPU,
    '-m', String(p.memoryMb),
    '-nographic',
    '-no-reboot',
    '-kernel', images.vmlinuxPath,
    '-initrd', images.initramfsPath,
    '-append', KERNEL_CMDLINE,
    '-fsdev', `local,id=hostfs,path=/,readonly=on,security_model=none,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=hostfs,mount_tag=${HOST_SHARE_TAG}`,
    '-fsdev', `local,id=outfs,path=${qemuOptionValue(outDir)},security_model=none`,
    '-device', `virtio-9p-pci,fsdev=outfs,mount_tag=${OUT_SHARE_TAG}`,
  ];
  if (net && p.mac) {
    args.push(
      '-netdev', `socket,id=net0,mcast=${net.group}:${net.port},localaddr=${MCAST_LOCAL_ADDR}`,
      '-device', `virtio-net-pci,netdev=net0,mac=${p.mac}`,
    );
  } else {
    args.push('-nic', 'none');
  }
  return args;
}

export function tail(s: string, n = CONSOLE_TAIL_CHARS): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

export interface QemuExit {
  code: number | null;
  aborted: boolean;
  backstop: boolean;
}

/** Starts qemu under `timeout` in its own process group; resolves when it is gone. */
export function startQemu(
  args: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
  cleanup: Cleanup,
  onConsole: (chunk: string) => void,
  onStderr: (chunk: string) => void,
): Promise<QemuExit> {
  const timeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const qemu = spawn('timeout', ['--kill-after', `${QEMU_KILL_AFTER_S}s`, `${timeoutS}s`, QEMU_BINARY, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = qemu.pid;
  const killGroup = () => {
    if (pgid === undefined || qemu.exitCode !== null || qemu.signalCode !== null) return;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  if (pgid !== undefined) liveQemuGroups.add(pgid);
  cleanup.add(`kill qemu group ${pgid}`, () => {
    killGroup();
    if (pgid !== undefined) liveQemuGroups.delete(pgid);
  });
  qemu.stdout.setEncoding('utf8').on('data', onConsole);
  qemu.stderr.setEncoding('utf8').on('data', onStderr);

  return new Promise<QemuExit>((resolveExit, rejectExit) => {
    let aborted = false;
    let backstop = false;
    const backstopTimer = setTimeout(() => {
      backstop = true;
      killGroup();
    }, timeoutMs + QEMU_KILL_AFTER_S * 1000 + BACKSTOP_EXTRA_MS);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    const done = () => {
      clearTimeout(backstopTimer);
      signal.removeEventListener('abort', onAbort);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    qemu.once('error', (err) => {
      done();
      rejectExit(new HarnessError('E_VM_QEMU', `cannot start ${QEMU_BINARY} through timeout: ${err.message}`, { cause: err }));
    });
    qemu.once('close', (code) => {
      done();
      resolveExit({ code, aborted, backstop });
    });
  });
}

async function bootGuest(
  images: VmImages,
  p: PlannedGuest,
  net: NetworkPlan | undefined,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<VmResult> {
  const cleanup = new Cleanup();
  let succeeded = false;
  try {
    const outDir = await mkdtemp(join(tmpdir(), `berth-vm-${p.name}-`));
    cleanup.add(`remove ${outDir}`, () => rm(outDir, { recursive: true, force: true }));
    await writeFile(join(outDir, OUT_FILES.config), configFile(p));
    await writeFile(join(outDir, OUT_FILES.job), jobScript(p));
    if (signal.aborted) throw abortedError(p.name);

    const started = Date.now();
    let bootMs = -1;
    let rawConsole = '';
    let qemuStderr = '';
    const exit = await startQemu(
      qemuArgs(images, p, outDir, net),
      timeoutMs,
      signal,
      cleanup,
      (chunk) => {
        if (rawConsole.length < CONSOLE_MAX_CHARS) rawConsole += chunk;
        if (bootMs < 0 && rawConsole.includes(COMMAND_START_MARKER)) bootMs = Date.now() - started;
      },
      (chunk) => (qemuStderr += chunk),
    );
    const totalMs = Date.now() - started;
    const consoleText = rawConsole.replaceAll('\r\n', '\n').replace(TERMINAL_ESCAPES, '');

    if (exit.aborted) throw abortedError(p.name);
    const rcText = await readOptional(join(outDir, OUT_FILES.rc));
    const stdout = (await readOptional(join(outDir, OUT_FILES.stdout))) ?? '';
    const stderr = (await readOptional(join(outDir, OUT_FILES.stderr))) ?? '';
    if (rcText === undefined || !/^\d+\s*$/.test(rcText)) {
      const timedOut = exit.code === TIMEOUT_EXIT_TERM || exit.code === TIMEOUT_EXIT_KILL || exit.backstop;
      const initError = await readOptional(join(outDir, OUT_FILES.initError));
      const why = timedOut
        ? `did not finish within ${timeoutMs} ms (killed; raise timeoutMs or look for a hang below)`
        : initError
          ? `failed during boot: ${initError.trim()}`
          : `stopped without writing an exit status (qemu/timeout exit ${String(exit.code)}: crashed, panicked or powered off early)`;
      throw new HarnessError(
        timedOut ? 'E_VM_TIMEOUT' : 'E_VM_NO_RC',
        `guest ${p.name} ${why}.` +
          (qemuStderr.trim() ? `\n--- qemu stderr ---\n${tail(qemuStderr.trim())}` : '') +
          `\n--- console (tail) ---\n${tail(consoleText)}` +
          (stderr.trim() ? `\n--- command stderr (tail) ---\n${tail(stderr)}` : ''),
      );
    }
    succeeded = true;
    return { name: p.name, rc: Number(rcText.trim()), stdout, stderr, console: consoleText, bootMs, totalMs };
  } finally {
    // A cleanup failure must not hide the guest's own error, which is the one worth reading.
    await cleanup.run().catch((err: unknown) => {
      if (succeeded) throw err;
    });
  }
}

function abortedError(name: string): HarnessError {
  return new HarnessError('E_VM_ABORTED', `guest ${name} was stopped because another guest of the same run failed.`);
}

// ---- public entry points ----

const usedNetworks = new Set<string>();

export function planNetwork(): NetworkPlan {
  for (;;) {
    const group = `${MCAST_GROUP_PREFIX}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    const port = randomInt(MCAST_PORT_MIN, MCAST_PORT_MAX);
    const key = `${group}:${port}`;
    if (usedNetworks.has(key)) continue;
    usedNetworks.add(key);
    return { group, port };
  }
}

export function releaseNetwork(net: NetworkPlan): void {
  usedNetworks.delete(`${net.group}:${net.port}`);
}

export function randomMac(): string {
  return `${MAC_PREFIX}:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

function planGuests(guests: readonly VmGuest[], network: boolean): PlannedGuest[] {
  const names = new Set<string>();
  const macs = new Set<string>();
  return guests.map((g, i) => {
    const name = g.name ?? `vm${i}`;
    validateGuest(g, name, network);
    if (names.has(name)) throw new HarnessError('E_VM_USAGE', `two guests are named "${name}".`);
    names.add(name);
    let mac: string | undefined;
    if (network) {
      do {
        mac = randomMac();
      } while (macs.has(mac));
      macs.add(mac);
    }
    return { guest: g, name, memoryMb: g.memoryMb ?? DEFAULT_MEMORY_MB, cwd: g.cwd ?? PROJECT_ROOT, mac };
  });
}

/**
 * Boots several guests at once; with `network` they share one Ethernet segment. If any guest
 * crashes or times out the others are stopped and the first failure is thrown. A non-zero rc is
 * a result, not an error.
 */
export async function runInVms(guests: readonly VmGuest[], opts: RunInVmsOptions): Promise<VmResult[]> {
  if (guests.length === 0) throw new HarnessError('E_VM_USAGE', 'runInVms needs at least one guest.');
  const planned = planGuests(guests, opts.network ?? false);
  const images = await prepareVmImages();
  const net = opts.network ? planNetwork() : undefined;
  const abort = new AbortController();
  try {
    const settled = await Promise.allSettled(
      planned.map((p) =>
        bootGuest(images, p, net, opts.timeoutMs, abort.signal).catch((err: unknown) => {
          abort.abort();
          throw err;
        }),
      ),
    );
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    const primary = failures.find((e) => !(e instanceof HarnessError && e.code === 'E_VM_ABORTED')) ?? failures[0];
    if (primary !== undefined) throw primary;
    return settled.map((s) => (s as PromiseFulfilledResult<VmResult>).value);
  } finally {
    if (net) releaseNetwork(net);
  }
}

/** Boots one guest, runs `command` in it and returns its exit status and output. */
export async function runInVm(opts: RunInVmOptions): Promise<VmResult> {
  const { timeoutMs, ...guest } = opts;
  const [result] = await runInVms([guest], { timeoutMs, network: false });
  return result!;
}
