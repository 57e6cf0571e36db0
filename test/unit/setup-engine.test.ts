// scripts/setup.sh uses the Docker engine a host already has and installs docker.io only where
// there is none. The host's package state is faked here (a PATH of stubs, named as fakes): a
// docker-ce install cannot be produced for real on this machine (no Docker registry reachable).
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

interface FakeHost {
  /** Commands on PATH, each a fake printing this text. */
  commands: Record<string, string>;
  /** Debian packages dpkg-query reports installed. */
  installed: string[];
  /** Commands a package owns, as `dpkg-query -S` reports them (the others belong to none). */
  owners?: Record<string, string>;
}

function engineChoice(t: { teardown(fn: () => void): void }, host: FakeHost): { status: number | null; stdout: string; stderr: string } {
  const bin = mkdtempSync(join(tmpdir(), 'berth-fake-host-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  for (const real of ['grep', 'cat', 'readlink', 'cut']) symlinkSync(`/usr/bin/${real}`, join(bin, real));
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  for (const [name, text] of Object.entries(host.commands)) fake(name, `echo '${text}'`);
  const owned = Object.entries(host.owners ?? {})
    .map(([cmd, pkg]) => `'${join(bin, cmd)}') echo '${pkg}: ${join(bin, cmd)}';;`)
    .join(' ');
  fake(
    'dpkg-query',
    `if [ "$1" = -S ]; then case "$2" in ${owned} *) echo "dpkg-query: no path found matching pattern $2" >&2; exit 1;; esac; exit 0; fi
case " ${host.installed.join(' ')} " in *" \${@: -1} "*) echo -n 'install ok installed';; *) exit 1;; esac`,
  );
  const script = `. '${join(PROJECT_ROOT, 'scripts', 'lib', 'setup-common.sh')}'; docker_engine_packages`;
  const r = spawnSync('/bin/bash', ['-c', script], { env: { PATH: bin }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test('an installed docker-ce engine (dockerd on PATH) is used; docker.io is not installed over it', (t) => {
  const r = engineChoice(t, { commands: { dockerd: 'Docker version 27.3.1, build 41ca978', docker: 'Docker version 27.3.1' }, installed: ['docker-ce', 'docker-ce-cli'] });
  t.is(r.status, 0);
  t.is(r.stdout, '', 'no package to install');
  t.regex(r.stderr, /using the Docker Engine already installed: Docker version 27\.3\.1/);
});

test('no engine at all: docker.io is the package to install', (t) => {
  const r = engineChoice(t, { commands: {}, installed: [] });
  t.is(r.status, 0);
  t.is(r.stdout, 'docker.io');
});

test("a packaged docker CLI without its engine, or an engine package without dockerd: refused with what to do, nothing replaced", (t) => {
  const cliOnly = engineChoice(t, { commands: { docker: 'Docker version 27.3.1' }, installed: ['docker-ce-cli'], owners: { docker: 'docker-ce-cli' } });
  t.not(cliOnly.status, 0);
  t.is(cliOnly.stdout, '');
  t.regex(cliOnly.stderr, /CLI of package docker-ce-cli .* without its engine \(dockerd\).*does not install docker\.io over it/);
  const broken = engineChoice(t, { commands: {}, installed: ['docker-ce'] });
  t.not(broken.status, 0);
  t.is(broken.stdout, '');
  t.regex(broken.stderr, /package docker-ce is installed but dockerd is not on PATH/);
});

test('a loose docker CLI (a static client of no package) without its engine: docker.io goes beside it, and the setup says so', (t) => {
  const r = engineChoice(t, { commands: { docker: 'Docker version 28.2.2' }, installed: [] });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'docker.io');
  t.regex(r.stderr, /a docker CLI of no package is at \S+\/docker; installing docker\.io beside it \(berth uses \/usr\/bin\/docker/);
});
