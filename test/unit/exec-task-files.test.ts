import test from 'ava';
import { MAX_CONFIG_BYTES, MAX_SECRET_BYTES, resolveTarget, taskFiles, TaskFileError } from '../../agent/exec/docker/task-files.js';
import { tmpfsSizeFor } from '../../agent/exec/docker/task-dir.js';
import { renderResolvConf } from '../../agent/exec/docker/resolv-conf.js';
import { configRef, secretRef } from './exec-fixture.js';

test('limits are SwarmKit\'s', (t) => {
  t.is(MAX_SECRET_BYTES, 500 * 1024);
  t.is(MAX_CONFIG_BYTES, 1000 * 1024);
});

for (const [raw, root, want] of [
  ['db_pass', '/run/secrets', '/run/secrets/db_pass'],
  ['sub/dir/key', '/run/secrets', '/run/secrets/sub/dir/key'],
  ['./x', '/run/secrets', '/run/secrets/x'],
  ['/etc/app.conf', '/run/secrets', '/etc/app.conf'],
  ['//etc//app.conf', '/', '/etc/app.conf'],
  ['app.conf', '/', '/app.conf'],
] as const) {
  test(`target ${JSON.stringify(raw)} under ${root} → ${want}`, (t) => t.is(resolveTarget(raw, root), want));
}

for (const [raw, problem] of [
  ['', 'is empty'],
  ['../../etc/shadow', "contains '..'"],
  ['a/../../b', "contains '..'"],
  ['/etc/..', "contains '..'"],
  ['/', 'names the root directory'],
  ['/.', 'names the root directory'],
  ['/proc/sys/kernel/x', 'is inside /proc'],
  ['/sys/x', 'is inside /sys'],
  ['a\nb', 'contains control characters'],
] as const) {
  test(`target ${JSON.stringify(raw)} refused: ${problem}`, (t) => t.deepEqual(resolveTarget(raw, '/run/secrets'), { problem }));
}

test('uid, gid and mode are taken from the reference', (t) => {
  const [s, c] = taskFiles({ secrets: [secretRef('s1', 'a', 'a', { uid: '33', gid: '44', mode: 0o440 })], configs: [configRef('c1', 'b', '/b', { uid: '', gid: '', mode: 0 })] } as never);
  t.like(s, { kind: 'secret', target: '/run/secrets/a', uid: 33, gid: 44, mode: 0o440, hostPath: 'secrets/0-s1' });
  t.like(c, { kind: 'config', target: '/b', uid: 0, gid: 0, mode: 0, hostPath: 'configs/0-c1' });
});

test('the same secret may be mounted twice at different targets', (t) => {
  const files = taskFiles({ secrets: [secretRef('s1', 'a', 'one'), secretRef('s1', 'a', 'two', { mode: 0o400 })], configs: [] } as never);
  t.deepEqual(files.map((f) => f.hostPath), ['secrets/0-s1', 'secrets/1-s1']);
});

for (const [why, spec, message] of [
  ['a bad secret target names the secret', { secrets: [secretRef('s1', 'db_pass', '../../etc/shadow')], configs: [] }, /secret "db_pass": target "\.\.\/\.\.\/etc\/shadow" contains '\.\.'/],
  ['a non-numeric uid', { secrets: [secretRef('s1', 'x', 'x', { uid: 'root' })], configs: [] }, /secret "x" uid: "root" is not a numeric id/],
  ['mode bits beyond permissions', { secrets: [secretRef('s1', 'x', 'x', { mode: 0o4755 })], configs: [] }, /mode 4755/],
  ['two files at one target', { secrets: [secretRef('s1', 'x', '/etc/x')], configs: [configRef('c1', 'y', '/etc/x')] }, /config "y": target \/etc\/x is also the target of secret "x"/],
  ['a runtime config target', { secrets: [], configs: [{ config_id: 'c1', config_name: 'cs', file: null, runtime: {}, target: 'runtime' }] }, /config "cs": runtime targets/],
] as const) {
  test(`rejected: ${why}`, (t) => {
    const err = t.throws(() => taskFiles(spec as never), { instanceOf: TaskFileError });
    t.regex(err!.message, message);
    t.false(err!.temporary);
  });
}

test('tmpfs size counts whole pages per file plus slack', (t) => {
  t.is(tmpfsSizeFor([]), 64 * 1024);
  t.is(tmpfsSizeFor([1, 4096, 4097]), 4 * 4096 + 64 * 1024);
});

test('resolv.conf without DNS config', (t) => {
  t.is(renderResolvConf(undefined), '# Written by berth: the embedded DNS server answers at 127.0.0.11.\nnameserver 127.0.0.11\noptions ndots:0\n');
  t.is(renderResolvConf({ search: ['a', 'b'], options: ['ndots:2', 'rotate'] }).split('\n').slice(1).join('\n'), 'search a b\nnameserver 127.0.0.11\noptions ndots:2 rotate\n');
});
