// Runs commands inside qemu guests that boot Debian's own kernel, for what the host kernel lacks
// (IPVS). The guest sees the host's root read-only over 9p with a tmpfs overlay on top, so the
// host's node, tools and this project's node_modules run there unchanged; results come back
// through a second, writable 9p share. Under TCG a boot costs seconds: batch checks per boot.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError, requireCommand, requireRoot } from './exec.js';
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

const QEMU_BINARY = 'qemu-system-x86_64';
const QEMU_APT_PACKAGE = 'qemu-system-x86';
const DEFAULT_MEMORY_MB = 1024;
const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1 mitigations=off';
/** `timeout` sends TERM at the deadline and KILL this long after. */
const QEMU_KILL_AFTER_S = 5;
/** Node's own backstop kill, in case `timeout` itself is stuck. */
const BACKSTOP_EXTRA_MS = 15_000;
const CONSOLE_TAIL_CHARS = 4_000;
const CONSOLE_MAX_CHARS = 1_000_000;
/** SeaBIOS clears the screen with terminal escapes; they only garble logs. */
const TERMINAL_ESCAPES = /\x1b(\[[0-9;?]*[A-Za-z]|c)/g;

const MCAST_PORT_MIN = 20_000;
const MCAST_PORT_MAX = 60_000;
/** A random group per network on top of a random port, so concurrent suites cannot hear each other. */
const MCAST_GROUP_PREFIX = '230.0';
const MCAST_LOCAL_ADDR = '127.0.0.1';
/** Locally administered prefix qemu uses by convention. */
const MAC_PREFIX = '52:54:00';

const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOSTNAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODULE_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
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

/** argv running a guest script with the host's node; plain .mjs starts several seconds faster than tsx. */
export function guestNode(script: string, ...args: string[]): string[] {
  return script.endsWith('.ts') ? [process.execPath, '--import', 'tsx', script, ...args] : [process.execPath, script, ...args];
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
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
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

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

interface NetworkPlan {
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

function qemuArgs(images: VmImages, p: PlannedGuest, outDir: string, net: NetworkPlan | undefined): string[] {
  const args = [
    '-accel', 'tcg',
    '-m', String(p.memoryMb),
    '-nographic',
    '-no-reboot',
    '-kernel', images.vmlinuxPath,
    '-initrd', images.initramfsPath,
    '-append', KERNEL_CMDLINE,
    '-fsdev', `local,id=hostfs,path=/,readonly=on,security_model=none,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=hostfs,mount_tag=${HOST_SHARE_TAG}`,
    '-fsdev', `local,id=outfs,path=${outDir},security_model=none`,
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

function tail(s: string, n = CONSOLE_TAIL_CHARS): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function bootGuest(
  images: VmImages,
  p: PlannedGuest,
  net: NetworkPlan | undefined,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<VmResult> {
  const outDir = await mkdtemp(join(tmpdir(), `berth-vm-${p.name}-`));
  let child: ChildProcess | undefined;
  try {
    await writeFile(join(outDir, OUT_FILES.config), configFile(p));
    await writeFile(join(outDir, OUT_FILES.job), jobScript(p));

    const started = Date.now();
    let bootMs = -1;
    let consoleText = '';
    let qemuStderr = '';
    const timeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
    const qemu = spawn(
      'timeout',
      ['--kill-after', `${QEMU_KILL_AFTER_S}s`, `${timeoutS}s`, QEMU_BINARY, ...qemuArgs(images, p, outDir, net)],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = qemu;
    const pgid = qemu.pid;
    if (pgid !== undefined) liveQemuGroups.add(pgid);
    const killGroup = () => {
      if (pgid === undefined) return;
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    qemu.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (consoleText.length < CONSOLE_MAX_CHARS) consoleText += d.replaceAll('\r\n', '\n').replace(TERMINAL_ESCAPES, '');
      if (bootMs < 0 && consoleText.includes(COMMAND_START_MARKER)) bootMs = Date.now() - started;
    });
    qemu.stderr.setEncoding('utf8').on('data', (d: string) => (qemuStderr += d));

    const exit = await new Promise<{ code: number | null; aborted: boolean; backstop: boolean }>((resolveExit, rejectExit) => {
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
      signal.addEventListener('abort', onAbort, { once: true });
      qemu.once('error', (err) => {
        clearTimeout(backstopTimer);
        signal.removeEventListener('abort', onAbort);
        rejectExit(new HarnessError('E_VM_QEMU', `cannot start ${QEMU_BINARY} through timeout: ${err.message}`, { cause: err }));
      });
      qemu.once('close', (code) => {
        clearTimeout(backstopTimer);
        signal.removeEventListener('abort', onAbort);
        resolveExit({ code, aborted, backstop });
      });
    });
    if (pgid !== undefined) liveQemuGroups.delete(pgid);
    const totalMs = Date.now() - started;

    const rcText = await readOptional(join(outDir, OUT_FILES.rc));
    const stdout = (await readOptional(join(outDir, OUT_FILES.stdout))) ?? '';
    const stderr = (await readOptional(join(outDir, OUT_FILES.stderr))) ?? '';
    if (exit.aborted) {
      throw new HarnessError('E_VM_ABORTED', `guest ${p.name} was stopped because another guest of the same run failed.`);
    }
    if (rcText === undefined || !/^\d+\s*$/.test(rcText)) {
      const initError = await readOptional(join(outDir, OUT_FILES.initError));
      const why =
        exit.code === 124 || exit.code === 137 || exit.backstop
          ? `did not finish within ${timeoutMs} ms (killed)`
          : initError
            ? `failed during boot: ${initError.trim()}`
            : `stopped without writing an exit status (qemu/timeout exit ${String(exit.code)}; crashed, panicked or powered off early)`;
      throw new HarnessError(
        exit.code === 124 || exit.code === 137 || exit.backstop ? 'E_VM_TIMEOUT' : 'E_VM_NO_RC',
        `guest ${p.name} ${why}.` +
          (qemuStderr.trim() ? `\n--- qemu stderr ---\n${tail(qemuStderr.trim())}` : '') +
          `\n--- console (tail) ---\n${tail(consoleText)}` +
          (stderr.trim() ? `\n--- command stderr (tail) ---\n${tail(stderr)}` : ''),
      );
    }
    return { name: p.name, rc: Number(rcText.trim()), stdout, stderr, console: consoleText, bootMs, totalMs };
  } finally {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      liveQemuGroups.delete(child.pid);
    }
    await rm(outDir, { recursive: true, force: true });
  }
}

// ---- public entry points ----

const usedNetworks = new Set<string>();

function planNetwork(): NetworkPlan {
  for (;;) {
    const group = `${MCAST_GROUP_PREFIX}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    const port = randomInt(MCAST_PORT_MIN, MCAST_PORT_MAX);
    const key = `${group}:${port}`;
    if (usedNetworks.has(key)) continue;
    usedNetworks.add(key);
    return { group, port };
  }
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
        mac = `${MAC_PREFIX}:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
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
    if (net) usedNetworks.delete(`${net.group}:${net.port}`);
  }
}

/** Boots one guest, runs `command` in it and returns its exit status and output. */
export async function runInVm(opts: RunInVmOptions): Promise<VmResult> {
  const { timeoutMs, ...guest } = opts;
  const [result] = await runInVms([guest], { timeoutMs, network: false });
  return result!;
}
