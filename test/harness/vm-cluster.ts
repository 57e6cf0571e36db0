// A cluster of long-running qemu guests, each a small Debian machine with systemd as PID 1: the
// host's root read-only over 9p (the base image every guest shares), an optional extra read-only
// layer above it (the berth package, extracted once on the host), and the guest's own ext4 disk
// as the writable layer, so a rebooted guest keeps its machine id, /var/lib/berth and Docker's
// data. The test talks to a guest through a command channel on the guest's 9p results share: a
// small shell agent (a systemd unit) runs each script the host drops there and writes its
// output back. See test/cluster/ and ENVIRONMENT.md.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup, HarnessError, requireCommand, run, sleep, uniqueName } from '../../scripts/lib/exec.js';
import { CLUSTER_SHARE_TAG, HOST_SHARE_TAG, LOWER_SHARE_TAG, OUT_SHARE_TAG, SYSTEMD_GUEST_OUT_DIR, SYSTEMD_START_MARKER } from './vm-initramfs.js';
import {
  KERNEL_CMDLINE,
  MCAST_LOCAL_ADDR,
  QEMU_CPU,
  TERMINAL_ESCAPES,
  planNetwork,
  prepareVmImages,
  randomMac,
  releaseNetwork,
  shellQuote,
  startQemu,
  tail,
  type NetworkPlan,
  type QemuExit,
  type VmImages,
} from './vm.js';

const DEFAULT_MEMORY_MB = 1536;
const DEFAULT_DISK_MB = 4096;
const CONSOLE_MAX_CHARS = 2_000_000;
/** How often the host looks for a command's result; the guest agent looks for commands every 0.2 s. */
const RESULT_POLL_MS = 200;
const DEFAULT_EXEC_TIMEOUT_MS = 120_000;
const AGENT_UP_FILE = 'agent-up';
const AGENT_SCRIPT_PATH = '/usr/local/lib/berth-vm/agent.sh';
const AGENT_UNIT = 'berth-vm-agent.service';
/**
 * Host units a guest must not start (the host is a container whose enabled units are whatever its
 * image enabled): a database, consoles nobody logs in on, timers that would run apt or fstrim.
 */
const MASKED_UNITS = [
  'postgresql.service',
  'getty@tty1.service',
  'serial-getty@ttyS0.service',
  'systemd-timesyncd.service',
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'man-db.timer',
  'systemd-tmpfiles-clean.timer',
  'systemd-pstore.service',
  // The host's saved IPVS rules, and modules nothing in a guest uses (seconds each under TCG).
  'ipvsadm.service',
  'modprobe@drm.service',
  'modprobe@dm_mod.service',
  'modprobe@efi_pstore.service',
  'modprobe@loop.service',
  'modprobe@fuse.service',
];
/**
 * Debian's tmpfiles.d/tmp.conf says `D /tmp`: empty /tmp at boot. In a guest /tmp is the host's,
 * seen through the overlay (a checkout may live there): emptying it would write a whiteout per
 * host file, minutes under TCG. Same-named files in /etc/tmpfiles.d replace /usr/lib's.
 */
const TMPFILES_TMP_OVERRIDE = '# berth test VM: keep the host\'s /tmp (see vm-cluster.ts)\nd /tmp 1777 root root -\n';

const AGENT_SCRIPT = `#!/bin/sh
# berth test VM command agent: runs each cmd/<id>.sh the host drops in the results share once,
# in the background, and writes res/<id>.out, .err and (last, atomically) .rc.
D=${SYSTEMD_GUEST_OUT_DIR}
mkdir -p "$D/cmd" "$D/res"
cat /proc/sys/kernel/random/boot_id > "$D/res/${AGENT_UP_FILE}.part" && mv "$D/res/${AGENT_UP_FILE}.part" "$D/res/${AGENT_UP_FILE}"
while :; do
  for f in "$D"/cmd/*.sh; do
    [ -e "$f" ] || continue
    id=\${f##*/}
    id=\${id%.sh}
    mv "$f" "$D/cmd/$id.run" 2>/dev/null || continue
    ( sh "$D/cmd/$id.run" </dev/null >"$D/res/$id.out" 2>"$D/res/$id.err"; echo $? >"$D/res/$id.rc.part"; mv "$D/res/$id.rc.part" "$D/res/$id.rc" ) &
  done
  sleep 0.2
done
`;

const AGENT_UNIT_TEXT = `[Unit]
Description=berth test VM command agent (the host's command channel)
DefaultDependencies=no
After=local-fs.target

[Service]
ExecStart=/bin/sh ${AGENT_SCRIPT_PATH}
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
Restart=always
RestartSec=1
# Commands it started (a reboot, a restart of another unit) must not die with it.
KillMode=process

[Install]
WantedBy=sysinit.target
`;

export interface ClusterGuestSpec {
  /** Hostname; also the Swarm node's name. */
  name: string;
  /** eth0's address as CIDR on the cluster's private segment, e.g. 10.98.0.11/24. */
  address: string;
  memoryMb?: number;
  diskMb?: number;
}

export interface VmClusterOptions {
  guests: readonly ClusterGuestSpec[];
  /** Lifetime of every qemu (it is killed after it): the whole test's budget. */
  lifetimeMs: number;
  /** A host directory overlaid read-only above the host's root in every guest (e.g. an extracted .deb). */
  lowerDir?: string;
  /** Where every guest mounts one writable shared folder (the provisioning's token exchange), e.g. /vagrant-share. */
  shareDir?: string;
  /** Extra kernel modules loaded before systemd starts. */
  modules?: readonly string[];
}

export interface GuestExecResult {
  rc: number;
  stdout: string;
  stderr: string;
}

export class GuestCommandError extends HarnessError {
  constructor(
    readonly guest: string,
    readonly script: string,
    readonly result: GuestExecResult,
  ) {
    super(
      'E_VM_GUEST_COMMAND',
      `guest ${guest}: command exited ${result.rc}: ${script.slice(0, 300)}\n--- stdout (tail) ---\n${tail(result.stdout, 2000)}\n--- stderr (tail) ---\n${tail(result.stderr, 3000)}`,
    );
  }
}

/** One running guest. */
export class ClusterGuest {
  private nextId = 0;
  private rawConsole = '';
  private exitInfo: QemuExit | undefined;
  /** qemu start → systemd reported the system running (multi-user reached), per boot. */
  readonly bootTimesMs: number[] = [];

  constructor(
    readonly name: string,
    readonly address: string,
    private readonly outDir: string,
  ) {}

  /** The address without its prefix length. */
  get ip(): string {
    return this.address.split('/')[0]!;
  }

  appendConsole(chunk: string): void {
    if (this.rawConsole.length < CONSOLE_MAX_CHARS) this.rawConsole += chunk;
  }

  markExited(exit: QemuExit): void {
    this.exitInfo = exit;
  }

  console(): string {
    return this.rawConsole.replaceAll('\r\n', '\n').replace(TERMINAL_ESCAPES, '');
  }

  private deadError(what: string): HarnessError {
    return new HarnessError(
      'E_VM_GUEST_GONE',
      `guest ${this.name}: qemu exited (code ${String(this.exitInfo?.code)}) while ${what}.\n--- console (tail) ---\n${tail(this.console())}`,
    );
  }

  /** Drops a script in the command channel; returns its id. */
  private async submit(script: string): Promise<string> {
    if (this.exitInfo) throw this.deadError('submitting a command');
    const id = `${process.pid}-${this.nextId++}-${randomBytes(3).toString('hex')}`;
    const tmp = join(this.outDir, 'cmd', `${id}.tmp`);
    await writeFile(tmp, `${script}\n`);
    await rename(tmp, join(this.outDir, 'cmd', `${id}.sh`));
    return id;
  }

  /** Runs `script` with the guest's sh as root; a non-zero rc is a result. */
  async exec(script: string, timeoutMs = DEFAULT_EXEC_TIMEOUT_MS): Promise<GuestExecResult> {
    const id = await this.submit(script);
    const res = join(this.outDir, 'res');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rc = await readFile(join(res, `${id}.rc`), 'utf8').catch(() => undefined);
      if (rc !== undefined) {
        const [stdout, stderr] = await Promise.all(['out', 'err'].map((ext) => readFile(join(res, `${id}.${ext}`), 'utf8').catch(() => '')));
        return { rc: Number(rc.trim()), stdout: stdout!, stderr: stderr! };
      }
      if (this.exitInfo) throw this.deadError(`running: ${script.slice(0, 200)}`);
      if (Date.now() > deadline) {
        const partial = await readFile(join(res, `${id}.err`), 'utf8').catch(() => '');
        throw new HarnessError(
          'E_VM_GUEST_TIMEOUT',
          `guest ${this.name}: no result within ${timeoutMs} ms for: ${script.slice(0, 300)}\n--- its stderr so far ---\n${tail(partial, 2000)}\n--- console (tail) ---\n${tail(this.console(), 2000)}`,
        );
      }
      await sleep(RESULT_POLL_MS);
    }
  }

  /** Runs `script` and returns its stdout; throws GuestCommandError when it exits non-zero. */
  async sh(script: string, timeoutMs = DEFAULT_EXEC_TIMEOUT_MS): Promise<string> {
    const r = await this.exec(script, timeoutMs);
    if (r.rc !== 0) throw new GuestCommandError(this.name, script, r);
    return r.stdout;
  }

  /** The boot id the command agent reported last (changes with each boot). */
  async agentBootId(): Promise<string | undefined> {
    return (await readFile(join(this.outDir, 'res', AGENT_UP_FILE), 'utf8').catch(() => undefined))?.trim();
  }

  /** Waits until the agent of a boot other than `previousBootId` is up and systemd is done starting units. */
  async waitBooted(startedAt: number, timeoutMs: number, previousBootId?: string): Promise<number> {
    const deadline = startedAt + timeoutMs;
    for (;;) {
      const id = await this.agentBootId();
      if (id !== undefined && id !== previousBootId) break;
      if (this.exitInfo) throw this.deadError('booting');
      if (Date.now() > deadline) {
        throw new HarnessError('E_VM_BOOT_TIMEOUT', `guest ${this.name}: its command agent did not start within ${timeoutMs} ms.\n--- console (tail) ---\n${tail(this.console())}`);
      }
      await sleep(RESULT_POLL_MS);
    }
    // `--wait` returns once the boot job queue is empty: running, or degraded if a unit failed.
    const state = (await this.exec('systemctl is-system-running --wait', Math.max(1000, deadline - Date.now()))).stdout.trim();
    if (state !== 'running' && state !== 'degraded') {
      throw new HarnessError('E_VM_BOOT', `guest ${this.name}: systemd says "${state}" after boot.\n--- console (tail) ---\n${tail(this.console())}`);
    }
    const ms = Date.now() - startedAt;
    this.bootTimesMs.push(ms);
    return ms;
  }

  /** `systemctl reboot` in the guest (qemu resets and boots the same kernel and disk); waits for the new boot. */
  async reboot(timeoutMs: number): Promise<number> {
    const before = await this.agentBootId();
    const startedAt = Date.now();
    await this.submit('systemctl reboot');
    return this.waitBooted(startedAt, timeoutMs, before);
  }
}

export interface VmCluster {
  guests: ClusterGuest[];
  guest(name: string): ClusterGuest;
  /** The shared folder on the host. */
  shareHostDir: string;
  /** Kills every qemu and removes the disks and shares. */
  stop(): Promise<void>;
}

async function makeDisk(path: string, stageDir: string, spec: ClusterGuestSpec): Promise<void> {
  const upper = join(stageDir, 'upper');
  const etc = join(upper, 'etc');
  const units = join(etc, 'systemd', 'system');
  await mkdir(join(units, 'sysinit.target.wants'), { recursive: true });
  await mkdir(join(upper, 'usr', 'local', 'lib', 'berth-vm'), { recursive: true });
  await writeFile(join(etc, 'hostname'), `${spec.name}\n`);
  await writeFile(join(etc, 'machine-id'), `${randomBytes(16).toString('hex')}\n`);
  await writeFile(join(etc, 'hosts'), `127.0.0.1 localhost\n${spec.address.split('/')[0]} ${spec.name}\n`);
  for (const u of MASKED_UNITS) await symlink('/dev/null', join(units, u));
  await mkdir(join(etc, 'tmpfiles.d'), { recursive: true });
  await writeFile(join(etc, 'tmpfiles.d', 'tmp.conf'), TMPFILES_TMP_OVERRIDE);
  await writeFile(join(upper, AGENT_SCRIPT_PATH.slice(1)), AGENT_SCRIPT);
  await chmod(join(upper, AGENT_SCRIPT_PATH.slice(1)), 0o755);
  await writeFile(join(units, AGENT_UNIT), AGENT_UNIT_TEXT);
  await symlink(`/etc/systemd/system/${AGENT_UNIT}`, join(units, 'sysinit.target.wants', AGENT_UNIT));
  await run('truncate', ['-s', `${spec.diskMb ?? DEFAULT_DISK_MB}M`, path]);
  // -d fills the new filesystem from the staging tree: no loop mount, no root-owned mount left behind.
  await run('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', stageDir, path], { timeoutMs: 60_000 });
}

function configFile(spec: ClusterGuestSpec, opts: VmClusterOptions): string {
  return [
    'BERTH_INIT=systemd',
    `BERTH_HOSTNAME=${shellQuote(spec.name)}`,
    `BERTH_ADDRESS=${shellQuote(spec.address)}`,
    `BERTH_MODULES=${shellQuote((opts.modules ?? []).join(' '))}`,
    `BERTH_LOWER=${opts.lowerDir === undefined ? '' : '1'}`,
    `BERTH_SHARE_DIR=${shellQuote(opts.shareDir ?? '')}`,
    '',
  ].join('\n');
}

function qemuArgs(images: VmImages, spec: ClusterGuestSpec, outDir: string, diskPath: string, shareHostDir: string, lowerDir: string | undefined, net: NetworkPlan, mac: string): string[] {
  const lower = lowerDir === undefined ? [] : [
    '-fsdev', `local,id=lowerfs,path=${lowerDir.replaceAll(',', ',,')},readonly=on,security_model=none,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=lowerfs,mount_tag=${LOWER_SHARE_TAG}`,
  ];
  return [
    ...lower,
    '-name', uniqueName(`berth-${spec.name}-`),
    '-accel', 'tcg',
    '-cpu', QEMU_CPU,
    '-m', String(spec.memoryMb ?? DEFAULT_MEMORY_MB),
    '-nographic',
    // No -no-reboot: `systemctl reboot` resets the machine, which boots the same kernel and disk again.
    '-kernel', images.vmlinuxPath,
    '-initrd', images.initramfsPath,
    '-append', KERNEL_CMDLINE,
    '-fsdev', 'local,id=hostfs,path=/,readonly=on,security_model=none,multidevs=remap',
    '-device', `virtio-9p-pci,fsdev=hostfs,mount_tag=${HOST_SHARE_TAG}`,
    '-fsdev', `local,id=outfs,path=${outDir.replaceAll(',', ',,')},security_model=none`,
    '-device', `virtio-9p-pci,fsdev=outfs,mount_tag=${OUT_SHARE_TAG}`,
    '-fsdev', `local,id=sharefs,path=${shareHostDir.replaceAll(',', ',,')},security_model=none`,
    '-device', `virtio-9p-pci,fsdev=sharefs,mount_tag=${CLUSTER_SHARE_TAG}`,
    // cache=unsafe: the disk lives as long as this qemu; a guest reboot keeps qemu (and its cache).
    '-drive', `file=${diskPath.replaceAll(',', ',,')},if=virtio,format=raw,cache=unsafe`,
    '-netdev', `socket,id=net0,mcast=${net.group}:${net.port},localaddr=${MCAST_LOCAL_ADDR}`,
    '-device', `virtio-net-pci,netdev=net0,mac=${mac}`,
  ];
}

/**
 * Boots every guest side by side on one private segment and waits until each one's systemd has
 * finished starting units. Returns with the guests running; call stop() (a teardown) after.
 */
export async function startVmCluster(opts: VmClusterOptions, bootTimeoutMs: number): Promise<VmCluster> {
  requireCommand('mkfs.ext4', 'e2fsprogs');
  requireCommand('truncate', 'coreutils');
  if (opts.lowerDir !== undefined && !existsSync(opts.lowerDir)) {
    throw new HarnessError('E_VM_USAGE', `lowerDir ${opts.lowerDir} does not exist.`);
  }
  const images = await prepareVmImages();
  const cleanup = new Cleanup();
  const abort = new AbortController();
  const net = planNetwork();
  cleanup.add('release the network', () => releaseNetwork(net));
  const workDir = await mkdtemp(join(tmpdir(), 'berth-vmcluster-'));
  cleanup.add(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  cleanup.add('stop the guests', () => abort.abort());
  const shareHostDir = join(workDir, 'share');
  await mkdir(shareHostDir);
  const guests: ClusterGuest[] = [];
  const exits: Promise<QemuExit>[] = [];
  const stop = async () => {
    abort.abort();
    await Promise.allSettled(exits);
    await cleanup.run();
  };
  try {
    await Promise.all(
      opts.guests.map(async (spec) => {
        const outDir = join(workDir, spec.name);
        await mkdir(join(outDir, 'cmd'), { recursive: true });
        await mkdir(join(outDir, 'res'), { recursive: true });
        await writeFile(join(outDir, 'config'), configFile(spec, opts));
        const diskPath = join(workDir, `${spec.name}.img`);
        await makeDisk(diskPath, join(workDir, `${spec.name}-stage`), spec);
        guests.push(new ClusterGuest(spec.name, spec.address, outDir));
      }),
    );
    guests.sort((a, b) => opts.guests.findIndex((s) => s.name === a.name) - opts.guests.findIndex((s) => s.name === b.name));
    const startedAt = Date.now();
    const qemuCleanup = new Cleanup();
    cleanup.add('qemu groups', () => qemuCleanup.run());
    for (const g of guests) {
      const spec = opts.guests.find((s) => s.name === g.name)!;
      const exit = startQemu(
        qemuArgs(images, spec, join(workDir, g.name), join(workDir, `${g.name}.img`), shareHostDir, opts.lowerDir, net, randomMac()),
        opts.lifetimeMs,
        abort.signal,
        qemuCleanup,
        (chunk) => g.appendConsole(chunk),
        (chunk) => g.appendConsole(`[qemu stderr] ${chunk}`),
      );
      exits.push(exit.then((e) => (g.markExited(e), e)));
    }
    await Promise.all(guests.map((g) => g.waitBooted(startedAt, bootTimeoutMs)));
    return {
      guests,
      guest(name: string) {
        const g = guests.find((x) => x.name === name);
        if (!g) throw new HarnessError('E_VM_USAGE', `no guest named ${name}`);
        return g;
      },
      shareHostDir,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

export { SYSTEMD_START_MARKER };
