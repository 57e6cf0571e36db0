// Builds the guest's initramfs: static busybox, a constant /init and the kernel modules the
// guest needs before the host's root is reachable (9p) or that every VM test uses (IPVS, VXLAN).
// Everything per-run (command, address, hostname) reaches the guest through the results share,
// so the archive only changes with the kernel, busybox or this file.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { HarnessError } from '../../scripts/lib/exec.js';

export const BUSYBOX_PATH = '/bin/busybox';
export const BUSYBOX_APT_PACKAGE = 'busybox-static';

/** 9p mount tags, shared with the qemu command line in vm.ts. */
export const HOST_SHARE_TAG = 'hostroot';
export const OUT_SHARE_TAG = 'berthout';
/** A writable 9p share every guest of a cluster mounts (the provisioning's shared folder). */
export const CLUSTER_SHARE_TAG = 'berthshare';
/** An extra read-only layer above the host's root (its own share: overlayfs refuses nested layers). */
export const LOWER_SHARE_TAG = 'berthlower';
/** Where a systemd guest (BERTH_INIT=systemd) sees its results share. */
export const SYSTEMD_GUEST_OUT_DIR = '/mnt/berth-vm';
/** The line /init prints right before it hands PID 1 to systemd. */
export const SYSTEMD_START_MARKER = 'berth-init: starting systemd';
/** Where the results share appears inside the chroot (a guest script may leave files there). */
export const GUEST_OUT_DIR = '/run/berth-out';
/** The line /init prints right before it starts the command; the host times the boot with it. */
export const COMMAND_START_MARKER = 'berth-init: starting command';
/** Names of the files /init reads from and writes to the results share. */
export const OUT_FILES = {
  config: 'config',
  job: 'job.sh',
  stdout: 'stdout',
  stderr: 'stderr',
  rc: 'rc',
  initError: 'init-error',
} as const;

const MODULE_DIR_IN_INITRAMFS = '/lib/berth-modules';
const MODULE_LIST_IN_INITRAMFS = '/etc/berth-modules';
const NINEP_MSIZE = 512_000;

/**
 * Loaded at boot, in this order after dependency expansion. crc32c_generic comes first because
 * libcrc32c (pulled in by nf_conntrack/ip_vs) only softdepends on it and busybox ignores softdeps.
 */
export const BOOT_MODULES: readonly string[] = [
  'crc32c_generic',
  'virtio_pci',
  'virtio_net',
  '9pnet_virtio',
  '9p',
  'overlay',
  'ip_vs',
  'ip_vs_rr',
  'xt_ipvs',
  'vxlan',
  'veth',
  'bridge',
];

const INIT_SCRIPT = `#!/bin/busybox sh
# PID 1 of a berth test VM. If it exits the kernel panics, and panic=-1 + -no-reboot end qemu.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
/bin/busybox --install -s
mkdir -p /proc /sys /dev /host /rw /newroot /out
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
OUT_MOUNTED=
say() { echo "berth-init: $*"; }
halt_now() { sync; poweroff -f; sleep 10; echo o > /proc/sysrq-trigger; sleep 10; }
die() {
  say "FATAL: $*"
  [ -n "$OUT_MOUNTED" ] && echo "$*" > /out/${OUT_FILES.initError}
  halt_now
}
while read -r m; do
  insmod ${MODULE_DIR_IN_INITRAMFS}/$m.ko || say "insmod $m failed"
done < ${MODULE_LIST_IN_INITRAMFS}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE} ${OUT_SHARE_TAG} /out || die "cannot mount the results share"
OUT_MOUNTED=1
. /out/${OUT_FILES.config} || die "cannot read /out/${OUT_FILES.config}"
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE},cache=loose ${HOST_SHARE_TAG} /host || die "cannot mount the host root share"
ln -s /host/lib/modules /lib/modules
if [ "$BERTH_INIT" = systemd ]; then
  # A cluster guest: the writable layer is the guest's own disk (/dev/vda, ext4 made on the
  # host), so what it writes survives a reboot; systemd becomes PID 1 in the assembled root.
  for m in virtio_blk ext4 $BERTH_MODULES; do modprobe "$m" || die "modprobe $m failed"; done
  mkdir -p /disk
  mount -t ext4 /dev/vda /disk || die "cannot mount the guest disk /dev/vda"
  mkdir -p /disk/upper /disk/work /disk/docker /disk/containerd
  lower=/host
  if [ -n "$BERTH_LOWER" ]; then
    mkdir -p /lower
    mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE},cache=loose ${LOWER_SHARE_TAG} /lower || die "cannot mount the extra lower layer"
    lower=/lower:/host
  fi
  mount -t overlay -o lowerdir=$lower,upperdir=/disk/upper,workdir=/disk/work overlay /newroot || die "cannot mount the overlay root"
  # overlay2 (dockerd's storage driver) cannot stack on the overlay root: its data sits on the disk.
  mkdir -p /newroot/var/lib/docker /newroot/var/lib/containerd
  mount --bind /disk/docker /newroot/var/lib/docker || die "cannot bind /var/lib/docker"
  mount --bind /disk/containerd /newroot/var/lib/containerd || die "cannot bind /var/lib/containerd"
  mkdir -p /newroot${SYSTEMD_GUEST_OUT_DIR}
  mount --bind /out /newroot${SYSTEMD_GUEST_OUT_DIR}
  if [ -n "$BERTH_SHARE_DIR" ]; then
    mkdir -p "/newroot$BERTH_SHARE_DIR"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=${NINEP_MSIZE} ${CLUSTER_SHARE_TAG} "/newroot$BERTH_SHARE_DIR" || die "cannot mount the cluster share"
  fi
  ip link set lo up
  if [ -n "$BERTH_ADDRESS" ]; then
    ip link set eth0 up && ip addr add "$BERTH_ADDRESS" dev eth0 || die "cannot configure eth0 with $BERTH_ADDRESS"
  fi
  say "$BERTH_HOSTNAME ready"
  echo "${SYSTEMD_START_MARKER}"
  umount /proc /sys
  mount --move /dev /newroot/dev
  exec switch_root /newroot /lib/systemd/systemd
fi
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || die "cannot mount the overlay root"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
# /tmp stays the host's (through the overlay): a checkout may live there, as CI's can.
# The host's /run holds its daemons' sockets and pid files; the guest starts clean.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot${GUEST_OUT_DIR}
mount --bind /out /newroot${GUEST_OUT_DIR}
# Modules not loaded above autoload (request_module runs /sbin/modprobe in this root) from the host's tree.
for m in $BERTH_MODULES; do modprobe "$m" || die "modprobe $m failed"; done
hostname "$BERTH_HOSTNAME"
ip link set lo up
if [ -n "$BERTH_ADDRESS" ]; then
  ip link set eth0 up && ip addr add "$BERTH_ADDRESS" dev eth0 || die "cannot configure eth0 with $BERTH_ADDRESS"
fi
say "$BERTH_HOSTNAME ready"
echo "${COMMAND_START_MARKER}"
chroot /newroot /bin/sh ${GUEST_OUT_DIR}/${OUT_FILES.job} < /dev/null > /out/${OUT_FILES.stdout} 2> /out/${OUT_FILES.stderr}
rc=$?
echo $rc > /out/${OUT_FILES.rc}.part && mv /out/${OUT_FILES.rc}.part /out/${OUT_FILES.rc}
say "command exited $rc"
halt_now
`;

export function initScript(): string {
  return INIT_SCRIPT;
}

// ---- kernel modules ----

interface ModuleEntry {
  /** Path relative to the modules dir, as modules.dep spells it. */
  path: string;
  deps: string[];
}

function moduleName(path: string): string {
  return basename(path)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replaceAll('-', '_');
}

function parseModulesDep(text: string): Map<string, ModuleEntry> {
  const map = new Map<string, ModuleEntry>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d.length > 0)
      .map(moduleName);
    map.set(moduleName(path), { path, deps });
  }
  return map;
}

export interface ResolvedModule {
  name: string;
  /** Absolute path of the (possibly compressed) .ko on the host. */
  hostPath: string;
}

/** Expands `wanted` with its modules.dep dependencies, in a load order (dependencies first). */
export async function resolveModules(modulesDir: string, wanted: readonly string[]): Promise<ResolvedModule[]> {
  const depPath = join(modulesDir, 'modules.dep');
  const deps = parseModulesDep(await readFile(depPath, 'utf8'));
  const order: ResolvedModule[] = [];
  const seen = new Set<string>();
  const visit = (raw: string, requiredBy: string | undefined) => {
    const name = raw.replaceAll('-', '_');
    if (seen.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      throw new HarnessError(
        'E_VM_MODULE',
        `kernel module ${name}${requiredBy ? ` (needed by ${requiredBy})` : ''} is not in ${depPath}; ` +
          'it may be built in or missing from this kernel flavour (check modules.builtin).',
      );
    }
    seen.add(name);
    // modules.dep lists the full transitive closure, so visiting each entry keeps the order right.
    for (const d of entry.deps) visit(d, name);
    order.push({ name, hostPath: join(modulesDir, entry.path) });
  };
  for (const w of wanted) visit(w, undefined);
  return order;
}

const KO_DECOMPRESSORS: Record<string, { command: string; aptPackage: string }> = {
  '.xz': { command: 'xz', aptPackage: 'xz-utils' },
  '.zst': { command: 'zstd', aptPackage: 'zstd' },
  '.gz': { command: 'gzip', aptPackage: 'gzip' },
};

function decompressToBuffer(command: string, aptPackage: string, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new HarnessError('E_MISSING_COMMAND', `${command} not found: install the Debian package "${aptPackage}" (npm run setup does it).`)
          : err,
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new HarnessError('E_VM_MODULE', `${command} -dc ${file} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** Module bytes ready for busybox insmod, which cannot read compressed modules. */
async function readModule(hostPath: string): Promise<Buffer> {
  const ext = Object.keys(KO_DECOMPRESSORS).find((e) => hostPath.endsWith(`.ko${e}`));
  if (!ext) return readFile(hostPath);
  const { command, aptPackage } = KO_DECOMPRESSORS[ext]!;
  return decompressToBuffer(command, aptPackage, hostPath);
}

// ---- cpio (newc) ----

const CPIO_MAGIC = '070701';
const CPIO_TRAILER = 'TRAILER!!!';
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const CONSOLE_MAJOR = 5;
const CONSOLE_MINOR = 1;

class CpioWriter {
  private readonly chunks: Buffer[] = [];
  private ino = 1;
  private size = 0;

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private pad(): void {
    const rem = this.size % 4;
    if (rem !== 0) this.push(Buffer.alloc(4 - rem));
  }

  private entry(name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]): void {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [this.ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    this.push(Buffer.from(CPIO_MAGIC + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'latin1'));
    this.push(nameBytes);
    this.pad();
    this.push(data);
    this.pad();
  }

  dir(name: string): void {
    this.entry(name, S_IFDIR | 0o755, Buffer.alloc(0));
  }
  file(name: string, data: Buffer, perm: number): void {
    this.entry(name, S_IFREG | perm, data);
  }
  symlink(name: string, target: string): void {
    this.entry(name, S_IFLNK | 0o777, Buffer.from(target));
  }
  charDevice(name: string, major: number, minor: number): void {
    this.entry(name, S_IFCHR | 0o600, Buffer.alloc(0), [major, minor]);
  }
  finish(): Buffer {
    this.entry(CPIO_TRAILER, 0, Buffer.alloc(0));
    return Buffer.concat(this.chunks);
  }
}

/** Returns the uncompressed newc archive; the kernel unpacks it faster than a compressed one under TCG. */
export async function buildInitramfs(modules: readonly ResolvedModule[]): Promise<Buffer> {
  let busybox: Buffer;
  try {
    busybox = await readFile(BUSYBOX_PATH);
  } catch (err) {
    throw new HarnessError(
      'E_MISSING_COMMAND',
      `${BUSYBOX_PATH} not found: install the Debian package "${BUSYBOX_APT_PACKAGE}" (npm run setup does it).`,
      { cause: err },
    );
  }
  const cpio = new CpioWriter();
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'lib', MODULE_DIR_IN_INITRAMFS.slice(1), 'dev', 'proc', 'sys', 'tmp']) {
    cpio.dir(d);
  }
  // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
  cpio.charDevice('dev/console', CONSOLE_MAJOR, CONSOLE_MINOR);
  cpio.file('bin/busybox', busybox, 0o755);
  cpio.symlink('bin/sh', 'busybox');
  cpio.file('init', Buffer.from(INIT_SCRIPT), 0o755);
  for (const m of modules) {
    cpio.file(`${MODULE_DIR_IN_INITRAMFS.slice(1)}/${m.name}.ko`, await readModule(m.hostPath), 0o644);
  }
  cpio.file(MODULE_LIST_IN_INITRAMFS.slice(1), Buffer.from(modules.map((m) => `${m.name}\n`).join('')), 0o644);
  return cpio.finish();
}
