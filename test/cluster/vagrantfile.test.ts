// The Vagrantfile as Vagrant itself reads it (no VM, no box: seconds): `vagrant validate`, and
// the machines, boxes, provider settings, provisioning scripts and synced folders it defines,
// loaded and finalized by Vagrant's own code (test/harness/vagrantfile-config.rb). Booting it
// is the operator's `vagrant up` (README, "Trying berth on VMs"); the same provisioning scripts
// run in the qemu guests of cluster.test.ts.
import test from 'ava';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../scripts/lib/exec.js';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

const VAGRANTFILE = join(PROJECT_ROOT, 'Vagrantfile');
const INSPECT = join(PROJECT_ROOT, 'test', 'harness', 'vagrantfile-config.rb');
const VAGRANT_TIMEOUT_MS = 60_000;
/** The guest path the project is synced to (Vagrantfile: config.vm.synced_folder ".", "/vagrant"). */
const GUEST_ROOT = '/vagrant/';

interface MachineConfig {
  name: string;
  box: string;
  hostname: string;
  private_ips: string[];
  shell_inline: string[];
  synced_folders: { host: string; guest: string; type: string; exclude: string[] }[];
  triggers_after: { on: string[]; info: string; ruby: boolean }[];
  provider: { memory: number; cpus: number; driver: string | null; cpu_mode: string | null };
}

/** The Vagrant environment for one run: its own home (no user's boxes leak in) and only the
 *  Vagrantfile's BERTH_* settings given here. */
function vagrantEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, VAGRANT_HOME: join(PROJECT_ROOT, '.vagrant', 'test-home'), VAGRANT_CHECKPOINT_DISABLE: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('BERTH_') || k === 'VAGRANT_CWD') delete env[k];
  return { ...env, ...extra };
}

async function machines(extra: NodeJS.ProcessEnv): Promise<MachineConfig[]> {
  const { stdout } = await run('ruby', [INSPECT, PROJECT_ROOT, 'libvirt'], { env: vagrantEnv(extra), timeoutMs: VAGRANT_TIMEOUT_MS });
  return JSON.parse(stdout) as MachineConfig[];
}

/** The project paths (relative) that a machine's shell provisioning names under the synced /vagrant. */
function guestProjectPaths(m: MachineConfig): string[] {
  return m.shell_inline.flatMap((cmd) => [...cmd.matchAll(/\/vagrant\/(\S+)/g)].map((match) => match[1]!));
}

test('vagrant validate accepts the Vagrantfile', async (t) => {
  const { stdout } = await run('vagrant', ['validate'], { env: vagrantEnv({ VAGRANT_CWD: PROJECT_ROOT }), timeoutMs: VAGRANT_TIMEOUT_MS });
  t.regex(stdout, /validated successfully/);
});

test('vagrant validate rejects a misspelt provider setting (the check can fail)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-vagrantfile-'));
  try {
    const broken = readFileSync(VAGRANTFILE, 'utf8').replace('lv.memory = 2048', 'lv.memroy = 2048');
    t.not(broken, readFileSync(VAGRANTFILE, 'utf8'), 'the Vagrantfile no longer sets lv.memory: update this test');
    writeFileSync(join(dir, 'Vagrantfile'), broken);
    const err = await t.throwsAsync(run('vagrant', ['validate'], { env: vagrantEnv({ VAGRANT_CWD: dir }), timeoutMs: VAGRANT_TIMEOUT_MS }));
    t.regex(String(err?.message), /memroy/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a manager and two berth workers on one private network, one box, libvirt under emulation when asked', async (t) => {
  const ms = await machines({ BERTH_LIBVIRT_DRIVER: 'qemu', BERTH_BOX: 'berth/bookworm64' });
  t.deepEqual(ms.map((m) => m.name), ['manager', 'berth1', 'berth2']);
  t.deepEqual(ms.map((m) => m.hostname), ['manager', 'berth1', 'berth2']);
  t.deepEqual(ms.map((m) => m.private_ips), [['192.168.56.10'], ['192.168.56.11'], ['192.168.56.12']]);
  for (const m of ms) {
    t.is(m.box, 'berth/bookworm64', m.name);
    t.deepEqual(m.provider, { memory: 2048, cpus: 2, driver: 'qemu', cpu_mode: 'maximum' }, m.name);
  }
  const defaults = await machines({ BERTH_LIBVIRT_DRIVER: 'kvm' });
  t.is(defaults[0]!.box, 'debian/bookworm64');
  t.is(defaults[0]!.provider.driver, 'kvm');
  t.not(defaults[0]!.provider.cpu_mode, 'maximum');
});

test('every project file the provisioning names exists, is synced into the guests, and every script parses', async (t) => {
  const ms = await machines({});
  const debs = existsSync(join(PROJECT_ROOT, '.cache', 'pkg'))
    ? readdirSync(join(PROJECT_ROOT, '.cache', 'pkg')).filter((f) => /^berth_.*_amd64\.deb$/.test(f))
    : [];
  for (const m of ms) {
    const paths = guestProjectPaths(m);
    t.true(paths.length > 0, `${m.name} runs no provisioning script from /vagrant`);
    const project = m.synced_folders.find((f) => f.guest === GUEST_ROOT.slice(0, -1));
    t.truthy(project, `${m.name} does not sync the project to /vagrant`);
    for (const rel of paths) {
      t.false(project!.exclude.some((ex) => rel.startsWith(ex)), `${m.name}: /vagrant/${rel} is excluded from the synced folder`);
      if (rel.startsWith('.cache/pkg/')) {
        // The package is built by `npm run package`; the Vagrantfile names the newest one there.
        t.regex(rel, /^\.cache\/pkg\/(berth_.*_amd64\.deb)?$/, m.name);
        if (debs.length > 0) t.true(debs.includes(rel.slice('.cache/pkg/'.length)), `${m.name}: ${rel} is not the built package`);
        continue;
      }
      t.true(existsSync(join(PROJECT_ROOT, rel)), `${m.name}: ${rel} missing`);
      if (rel.endsWith('.sh')) await t.notThrowsAsync(run('bash', ['-n', join(PROJECT_ROOT, rel)]), rel);
    }
  }
  const workers = ms.filter((m) => m.name.startsWith('berth'));
  t.true(workers.every((w) => guestProjectPaths(w).includes('scripts/provision/berth-worker.sh')));
  t.true(guestProjectPaths(ms[0]!).includes('scripts/provision/manager.sh'));
  // The token leaves the manager after its up; the demo starts after the last worker's.
  t.true(ms[0]!.triggers_after.some((tr) => tr.on.includes('up') && tr.ruby));
  t.true(ms.at(-1)!.triggers_after.some((tr) => tr.on.includes('up') && tr.ruby && /demo/.test(tr.info)));
});

test('the box script builds what the Vagrantfile boots: its box Vagrantfile parses', async (t) => {
  // scripts/vagrant-box.sh writes this Vagrantfile into the box; Vagrant merges it under ours.
  const script = readFileSync(join(PROJECT_ROOT, 'scripts', 'vagrant-box.sh'), 'utf8');
  const boxVagrantfile = /cat >"\$STAGE\/Vagrantfile" <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(script)?.[1];
  t.truthy(boxVagrantfile, 'scripts/vagrant-box.sh no longer writes a box Vagrantfile');
  const dir = mkdtempSync(join(tmpdir(), 'berth-box-vagrantfile-'));
  try {
    writeFileSync(join(dir, 'Vagrantfile'), `${boxVagrantfile!}\nVagrant.configure("2") { |c| c.vm.box = "x" }\n`);
    for (const f of ['vmlinuz', 'initrd']) copyFileSync(VAGRANTFILE, join(dir, f));
    const { stdout } = await run('vagrant', ['validate'], { env: vagrantEnv({ VAGRANT_CWD: dir }), timeoutMs: VAGRANT_TIMEOUT_MS });
    t.regex(stdout, /validated successfully/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await t.notThrowsAsync(run('bash', ['-n', join(PROJECT_ROOT, 'scripts', 'vagrant-box.sh')]));
});
