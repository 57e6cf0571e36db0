// The shipped unit (systemd/agentd.service): `systemd-analyze verify` accepts it without a
// warning, and what it says agrees with what agentd does — Type=notify with a watchdog, the
// exit status of a configuration error, and a runtime directory that holds agentd's runtime
// state (control socket, overlay namespace pins, task tmpfs) and survives a restart.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CONFIG_ERROR, DEFAULT_CONTROL_SOCKET } from '../../agent/config.js';
import { DEFAULT_NETNS_DIR } from '../../base/index.js';
import { DEFAULT_TASKS_ROOT } from '../../agent/exec/docker/task-dir.js';
import { requireCommand } from '../../scripts/lib/exec.js';
import { PROJECT_ROOT } from '../../scripts/lib/images.js';

const UNIT = join(PROJECT_ROOT, 'systemd', 'agentd.service');
const text = readFileSync(UNIT, 'utf8');

/** section → key → values (a key may repeat). */
function parseUnit(src: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = '';
  for (const raw of src.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      out.set(section, out.get(section) ?? new Map());
      continue;
    }
    const i = line.indexOf('=');
    const keys = out.get(section)!;
    const k = line.slice(0, i);
    keys.set(k, [...(keys.get(k) ?? []), line.slice(i + 1)]);
  }
  return out;
}

const unit = parseUnit(text);
const service = unit.get('Service')!;
const one = (k: string) => service.get(k)?.at(-1);

test('systemd-analyze verify accepts the unit, without a warning', async (t) => {
  const analyze = requireCommand('systemd-analyze', 'systemd');
  // verify checks that ExecStart exists; /usr/bin/agentd is there only once the package is
  // installed, so a stub stands in for it: every other line is verified as shipped.
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stub = join(dir, 'agentd');
  writeFileSync(stub, '#!/bin/sh\n');
  chmodSync(stub, 0o755);
  t.regex(text, /^ExecStart=\/usr\/bin\/agentd$/m);
  writeFileSync(join(dir, 'agentd.service'), text.replace(/^ExecStart=\/usr\/bin\/agentd$/m, `ExecStart=${stub}`));
  const r = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(analyze, ['verify', '--man=no', join(dir, 'agentd.service')], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })),
  );
  t.is(r.code, 0, r.out);
  t.is(r.out.trim(), '', 'no warnings');
});

test('notify with a watchdog; the start timeout and start limits are set', (t) => {
  t.is(one('Type'), 'notify');
  t.regex(one('WatchdogSec') ?? '', /^\d+$/);
  t.true(Number(one('WatchdogSec')) >= 10, 'keep-alives every WatchdogSec/2 leave room on a loaded node');
  t.regex(one('TimeoutStartSec') ?? '', /^\d+$/);
  t.regex(unit.get('Unit')!.get('StartLimitIntervalSec')?.[0] ?? '', /^\d+$/);
  t.regex(unit.get('Unit')!.get('StartLimitBurst')?.[0] ?? '', /^\d+$/);
  t.is(one('Restart'), 'always');
  t.is(one('KillMode'), 'process', 'tasks keep running while agentd restarts');
  t.not(one('SyslogLevelPrefix'), 'false');
});

test("RestartPreventExitStatus names agentd's configuration-error status", (t) => {
  t.deepEqual(one('RestartPreventExitStatus')?.split(/\s+/), [String(EXIT_CONFIG_ERROR)]);
});

test('the runtime directory holds the control socket, the netns pins and the task tmpfs, and outlives agentd', (t) => {
  const runtime = `/run/${one('RuntimeDirectory')}`;
  for (const p of [DEFAULT_CONTROL_SOCKET, DEFAULT_NETNS_DIR, DEFAULT_TASKS_ROOT]) t.true(p.startsWith(`${runtime}/`), `${p} under ${runtime}`);
  t.is(one('RuntimeDirectoryPreserve'), 'yes', 'a restart must not remove the pins of running tasks');
});

test('no protection that gives agentd a private mount namespace (pins and task tmpfs must reach the host)', (t) => {
  const mountNamespacing = ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectProc', 'PrivateMounts', 'ReadWritePaths', 'ReadOnlyPaths', 'InaccessiblePaths', 'TemporaryFileSystem', 'BindPaths', 'MountFlags'];
  for (const k of mountNamespacing) t.is(service.get(k), undefined, k);
  t.is(service.get('CapabilityBoundingSet'), undefined);
  t.is(service.get('MemoryDenyWriteExecute'), undefined);
  const ns = one('RestrictNamespaces');
  t.is(ns, 'net', 'agentd creates and enters network namespaces, and only those');
  t.regex(one('RestrictAddressFamilies') ?? '', /AF_NETLINK/);
});
