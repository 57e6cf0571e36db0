// The package an operator installs. `npm run package` builds berth_<version>_amd64.deb; it is
// installed on this machine with `dpkg -i` for real, checked file by file, its /usr/bin/agentd
// joins a real Swarm manager (importing its own sandbox image into an engine that lacks it), and
// `dpkg -r` then leaves no unit, binary or rule file behind, only the state dir.
//
// Why a real install rather than `dpkg --root`/`--instdir` into a scratch tree: those run the
// maintainer scripts chrooted into a tree with no shell or systemd-tmpfiles, need --force-depends
// (no docker.io there), and would test a relocated agentd the unit never starts. A real install
// is what an operator runs and leaves the other suites alone: they run agentd from their own
// dist/ and never use /usr/bin/agentd or /usr/lib/berth; postinst applies only
// net.ipv4.ip_forward=1 (what dockerd already set), loads modules only where /proc/modules
// exists, starts nothing, and PID 1 is not systemd here. The package is removed in the last test
// and again in teardown if a test failed before it; a package installed before the run is
// refused rather than replaced.
import test from 'ava';
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHosts } from '../../scripts/lib/hosts.js';
import { startDockerd } from '../../scripts/lib/dockerd.js';
import { startSwarmManager } from '../../scripts/lib/swarm.js';
import { startAgentd, waitConnected, type AgentdProcess } from '../../scripts/lib/agentd.js';
import { PAUSE_IMAGE, PROJECT_ROOT } from '../../scripts/lib/images.js';
import { Cleanup, HarnessError, StopWaiting, requireCommand, requireRoot, run, runQuiet, waitFor } from '../../scripts/lib/exec.js';
import { TaskDirs } from '../../agent/exec/docker/task-dir.js';

const LIB = '/usr/lib/berth';
const STATE_DIR = '/var/lib/berth';
const UNIT = '/lib/systemd/system/agentd.service';
const WANTS_LINK = '/etc/systemd/system/multi-user.target.wants/agentd.service';
const PACKAGE_TIMEOUT_MS = 600_000;
/** apt or dpkg run by someone else holds the lock: wait for it, within reason. */
const DPKG_LOCK_WAIT_MS = 300_000;
const SHIPPED = [
  '/usr/bin/agentd',
  '/usr/bin/agentctl',
  UNIT,
  '/usr/lib/tmpfiles.d/berth.conf',
  '/usr/lib/sysctl.d/60-berth.conf',
  '/usr/lib/modules-load.d/berth.conf',
  `${LIB}/package.json`,
  `${LIB}/README.md`,
  `${LIB}/node/bin/node`,
  `${LIB}/agent/cli/agentd.js`,
  `${LIB}/agent/cli/agentctl.js`,
  `${LIB}/agent/proto/dispatcher.proto`,
  `${LIB}/netd/gossip/networkdb.proto`,
  `${LIB}/native/build/Release/berth_native.node`,
  `${LIB}/images/pause.tar`,
  `${LIB}/node_modules/@grpc/grpc-js/package.json`,
];
const DEV_ONLY = ['ava', 'typescript', 'tsx', 'eslint', 'node-gyp', 'dependency-cruiser'];

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
const pinnedNode = /^NODE_VERSION=(\S+)$/m.exec(readFileSync(join(PROJECT_ROOT, 'scripts', 'node.pin'), 'utf8'))?.[1];

let deb = '';
let listed: string[] = [];
let stateDirExisted = false;
let installedByUs = false;
const cleanup = new Cleanup();

function linkExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function isInstalled(): Promise<boolean> {
  return (await packageStatus()) === 'install ok installed';
}

/** dpkg with a wait while another apt/dpkg holds its lock (other engineers' setup runs). */
async function dpkg(args: string[]): Promise<string> {
  return waitFor(
    `dpkg ${args.join(' ')}`,
    async () => {
      try {
        const r = await run('dpkg', args, { timeoutMs: 120_000 });
        return r.stdout + r.stderr;
      } catch (err) {
        if (/lock/i.test((err as Error).message) && /dpkg/.test((err as Error).message)) return undefined;
        throw new StopWaiting(err as Error);
      }
    },
    DPKG_LOCK_WAIT_MS,
    2_000,
  );
}

/** dpkg's record of berth: '' when it has none. */
async function packageStatus(): Promise<string> {
  return run('dpkg-query', ['-W', '-f=${Status}', 'berth']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
}

/** Leaves dpkg's database as before the run: removed and purged (the purge only drops dpkg's
 *  record; no conffile exists and the state dir is kept either way). */
async function removePackage(): Promise<void> {
  if (!installedByUs) return;
  if (await isInstalled()) await dpkg(['-r', 'berth']);
  if ((await packageStatus()) !== '') await dpkg(['--purge', 'berth']);
  installedByUs = false;
}

test.before(async () => {
  requireRoot('installing a Debian package');
  requireCommand('dpkg-deb', 'dpkg');
  if ((await packageStatus()) !== '') {
    throw new HarnessError('E_BERTH_INSTALLED', 'dpkg knows a berth package on this machine (dpkg -s berth); this test installs and purges it: remove it first (dpkg --purge berth)');
  }
  stateDirExisted = existsSync(STATE_DIR);
});

test.after.always(async () => {
  await cleanup.run();
  await removePackage();
  // dpkg -r keeps the state dir by design; the one this test's install created goes.
  if (!stateDirExisted) await run('rm', ['-rf', STATE_DIR]);
});

test.serial('npm run package builds berth_<version>_amd64.deb with its dependencies declared', async (t) => {
  const out = await run('bash', [join(PROJECT_ROOT, 'scripts', 'package.sh')], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BERTH_DEB_COMPRESSION: 'gzip' },
    timeoutMs: PACKAGE_TIMEOUT_MS,
  });
  deb = out.stdout.trim().split('\n').at(-1) ?? '';
  t.is(deb, join(PROJECT_ROOT, '.cache', 'pkg', `berth_${pkg.version}_amd64.deb`));
  t.log(`${deb}: ${(statSync(deb).size / 2 ** 20).toFixed(1)} MiB (gzip)`);
  const field = async (f: string) => (await run('dpkg-deb', ['-f', deb, f])).stdout.trim();
  t.is(await field('Package'), 'berth');
  t.is(await field('Version'), pkg.version);
  t.is(await field('Architecture'), 'amd64');
  t.true((await field('Depends')).split(', ').includes('docker.io | docker-ce'), await field('Depends'));
  const conffiles = await run('dpkg-deb', ['-I', deb, 'conffiles']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  t.is(conffiles, '', 'no conffile: dpkg -r leaves nothing but the state dir');
});

test.serial('dpkg -i installs the layout: /usr/lib/berth, the CLIs on the bundled Node, the unit and the rule files', async (t) => {
  t.truthy(deb, 'the package was built');
  const out = await dpkg(['-i', deb]);
  installedByUs = true;
  t.log(out.trim().split('\n').slice(-3).join('\n'));
  t.true(await isInstalled());
  listed = (await run('dpkg', ['-L', 'berth'])).stdout.trim().split('\n');
  for (const f of SHIPPED) {
    t.true(listed.includes(f), `dpkg -L berth lists ${f}`);
    t.true(existsSync(f), `${f} is on disk`);
  }
  for (const bin of ['/usr/bin/agentd', '/usr/bin/agentctl']) t.true((statSync(bin).mode & 0o111) !== 0, `${bin} is executable`);
  t.deepEqual(
    listed.filter((f) => f.startsWith(`${LIB}/`) && !f.startsWith(`${LIB}/node_modules/`) && /\.ts$/.test(f)),
    [],
    'no TypeScript source ships',
  );
  for (const dev of DEV_ONLY) t.false(existsSync(`${LIB}/node_modules/${dev}`), `no devDependency ${dev} in the production node_modules`);

  t.is((await run(`${LIB}/node/bin/node`, ['--version'])).stdout.trim(), `v${pinnedNode}`, 'the bundled runtime is the pinned Node');
  t.is((await run('/usr/bin/agentd', ['--version'], { cwd: '/' })).stdout.trim(), pkg.version);
  t.deepEqual(JSON.parse((await run('/usr/bin/agentctl', ['version', '--json'], { cwd: '/' })).stdout), { berth: pkg.version, node: pinnedNode });
  t.regex(readFileSync('/usr/lib/sysctl.d/60-berth.conf', 'utf8'), /^net\.ipv4\.ip_forward = 1$/m);
  t.regex(readFileSync('/usr/lib/modules-load.d/berth.conf', 'utf8'), /^vxlan$/m);
  // postinst applied the tmpfiles.d entries.
  for (const d of ['/run/berth', STATE_DIR]) t.is(statSync(d).mode & 0o777, 0o700, `${d} exists, 0700`);

  requireCommand('systemd-analyze', 'systemd');
  const verify = await run('systemd-analyze', ['verify', UNIT]).then(
    (r) => ({ ok: true, text: r.stderr }),
    (err: Error) => ({ ok: false, text: err.message }),
  );
  t.true(verify.ok, verify.text);
  // What an operator does next; dpkg -r must undo it.
  await run('systemctl', ['enable', 'agentd.service']);
  t.true(linkExists(WANTS_LINK) && lstatSync(WANTS_LINK).isSymbolicLink(), 'systemctl enable made the wants link');
});

test.serial('the installed /usr/bin/agentd joins a real manager and imports its sandbox image', async (t) => {
  t.true(installedByUs, 'the package is installed');
  const underlay = await createHosts(2);
  cleanup.add('hosts', () => underlay.destroy());
  const manager = await startSwarmManager(underlay.hosts[0]!);
  cleanup.add('manager', () => manager.stop());
  const engine = await startDockerd({ host: underlay.hosts[1]!, images: 'test-only' });
  cleanup.add('engine', () => engine.stop());
  t.false(await runQuiet('/usr/bin/docker', ['-H', engine.dockerHost, 'image', 'inspect', PAUSE_IMAGE]), 'the engine starts without the sandbox image');

  const agentd: AgentdProcess = await startAgentd({ command: ['/usr/bin/agentd'], host: underlay.hosts[1]!, dockerd: engine, manager: manager.address, joinToken: manager.workerToken, logLevel: 'info' });
  cleanup.add('agentd', () => agentd.destroy());
  const status = await waitConnected(agentd, 60_000);
  cleanup.add('task dirs', () => new TaskDirs().removeOwnedBy(status.nodeId));
  t.is(status.dataPlane, 'on');
  const ready = await waitFor(
    'the manager to list the berth node Ready',
    async () => {
      const ls = (await manager.dockerd.docker(['node', 'ls', '--format', '{{.ID}} {{.Status}}'])).stdout;
      return ls.includes(`${status.nodeId} Ready`) ? ls : undefined;
    },
    60_000,
    250,
  );
  t.log(ready.trim());
  await waitFor('agentd to import the sandbox image', () => runQuiet('/usr/bin/docker', ['-H', engine.dockerHost, 'image', 'inspect', PAUSE_IMAGE]), 60_000, 250);
  // It is the installed agentd on the bundled runtime, with the installed addon mapped.
  t.is((await run('readlink', [`/proc/${agentd.pid}/exe`])).stdout.trim(), `${LIB}/node/bin/node`);
  t.true(readFileSync(`/proc/${agentd.pid}/cmdline`, 'utf8').split('\0').includes(`${LIB}/agent/cli/agentd.js`));
  const maps = readFileSync(`/proc/${agentd.pid}/maps`, 'utf8');
  t.true(maps.includes(`${LIB}/native/build/Release/berth_native.node`), 'the installed native addon is loaded');
  t.false(maps.includes(PROJECT_ROOT), 'nothing is mapped from the source tree');

  // Prometheus text on the control socket, as an operator asks for it.
  const metrics = (await run('curl', ['-sf', '--unix-socket', agentd.controlSocket, 'http://localhost/metrics'])).stdout;
  t.regex(metrics, /^# TYPE berth_session_state gauge$/m);
  t.regex(metrics, /^berth_session_state\{state="connected"\} 1$/m);
  // The installed agentctl's doctor, in the node's namespace, reports this kernel as it is.
  const ipvsModule = await runQuiet('modprobe', ['-n', 'ip_vs']);
  const doctor = await run('nsenter', [`--net=${underlay.hosts[1]!.netnsPath}`, '/usr/bin/agentctl', '--socket', agentd.controlSocket, 'doctor', '--json'], { cwd: '/' });
  const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; data?: { ipvs: boolean; auto: string; inUse: string | null } }> }).checks;
  t.log(checks.map((c) => `${c.status} ${c.id}`).join(', '));
  const vip = checks.find((c) => c.id === 'vip-backend');
  t.is(vip?.status, 'pass');
  if (!ipvsModule) t.like(vip?.data, { ipvs: false, auto: 'nftables', inUse: 'nftables' }, 'no ip_vs module here: IPVS absent, nftables in use');
  else t.is(vip?.data?.inUse, vip?.data?.auto);
  await cleanup.run();
});

test.serial('dpkg -r leaves no unit, binary, rule file or host rule behind; the state dir stays', async (t) => {
  t.true(installedByUs, 'the package is installed');
  // berth's host table where the package's agentd would have made it (the host's namespace):
  // removal runs agentd --cleanup, which must take it away.
  await run('/usr/sbin/nft', ['add', 'table', 'ip', 'berth']);
  cleanup.add('berth table', () => runQuiet('/usr/sbin/nft', ['delete', 'table', 'ip', 'berth']).then(() => undefined));
  await dpkg(['-r', 'berth']);
  t.false(await runQuiet('/usr/sbin/nft', ['list', 'table', 'ip', 'berth']), "berth's host table is gone with the package");
  t.false(await isInstalled());
  const left = listed.filter((f) => f !== '/.' && existsSync(f) && !statSync(f).isDirectory());
  t.deepEqual(left, [], 'every file dpkg -L listed is gone');
  for (const p of [LIB, '/usr/bin/agentd', '/usr/bin/agentctl', UNIT, '/usr/lib/tmpfiles.d/berth.conf', '/usr/lib/sysctl.d/60-berth.conf', '/usr/lib/modules-load.d/berth.conf']) {
    t.false(existsSync(p), `${p} is gone`);
  }
  t.false(linkExists(WANTS_LINK), 'the enablement link is gone');
  t.true(existsSync(STATE_DIR), 'the state dir stays (as Docker keeps /var/lib/docker)');
  await removePackage();
  t.is(await packageStatus(), '', "purged: dpkg keeps no record of berth");
  t.true(existsSync(STATE_DIR), 'the state dir stays after a purge too');
});
