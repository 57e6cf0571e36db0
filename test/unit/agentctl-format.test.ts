// agentctl's human output, checked for content: aligned columns, what each command must show.
import test from 'ava';
import { EXIT, dnsAnswered, formatDns, formatDoctor, formatTasks, formatTimings, formatVips, table } from '../../agent/cli/format.js';
import type { CheckResult } from '../../agent/doctor/index.js';

test('table: columns padded to the widest cell, two spaces apart, no trailing blanks', (t) => {
  const out = table(['A', 'LONGER', 'LAST'], [['xxxx', 'y', 'z'], ['', 'yyyyyyyy', '']]).split('\n');
  t.deepEqual(out, ['A     LONGER    LAST', 'xxxx  y         z', '      yyyyyyyy']);
});

test('tasks: one row per task with its short id, service.slot, states and the error when there is one', (t) => {
  const out = formatTasks([
    { id: 'abcdefghijklmnopqrstuvwxy', service: 'web', slot: '1', desired: 'RUNNING', state: 'RUNNING', message: 'started', image: 'img:1' },
    { id: 'zyxwvutsrqponmlkjihgfedcb', service: 'db', slot: '2', desired: 'RUNNING', state: 'FAILED', message: 'failed', err: 'exit 1' },
  ]);
  t.regex(out, /^ID +TASK +STATE +DESIRED +IMAGE +MESSAGE$/m);
  t.regex(out, /^abcdefghijkl +web\.1 +RUNNING +RUNNING +img:1 +started$/m);
  t.regex(out, /^zyxwvutsrqpo +db\.2 +FAILED +RUNNING +- +error: exit 1$/m);
  t.is(formatTasks([]), 'no tasks on this node');
});

test('vips: service, VIP, ports and backends per network; draining backends show their weight', (t) => {
  const out = formatVips({
    backend: 'nftables',
    networks: [
      {
        id: 'n1',
        name: 'appnet',
        source: '10.0.0.5',
        services: [{ id: 's1', name: 'web', vip: '10.0.0.2', ports: [], backends: [{ ip: '10.0.0.3', weight: 1 }, { ip: '10.0.0.4', weight: 0 }] }],
      },
    ],
  });
  t.regex(out, /^backend: nftables$/m);
  t.regex(out, /^appnet +web +10\.0\.0\.2 +- +10\.0\.0\.3, 10\.0\.0\.4 \(weight 0\)$/m);
  t.regex(out, /^appnet: load balancer source 10\.0\.0\.5$/m);
  t.is(formatVips(null), 'data plane off: no load balancers here');
});

test('dns: the rcode, who answered, the records; only NOERROR with records counts as answered', (t) => {
  const ok = { rcode: 'NOERROR', authoritative: true, truncated: false, answers: [{ name: 'web', type: 'A', ttl: 600, data: '10.0.0.2' }], name: 'web', type: 'A', task: 'abcdefghijklmnop' };
  t.regex(formatDns(ok), /^web A from task abcdefghijkl: NOERROR, answered by berth$/m);
  t.regex(formatDns(ok), /^web +A +600 +10\.0\.0\.2$/m);
  t.true(dnsAnswered(ok));
  const nx = { ...ok, rcode: 'NXDOMAIN', authoritative: false, answers: [] };
  t.is(formatDns(nx), "web A from task abcdefghijkl: NXDOMAIN, from the host's resolvers");
  t.false(dnsAnswered(nx));
  t.false(dnsAnswered({ ...ok, answers: [] }), 'NODATA is not an answer');
  t.regex(formatDns({ ...ok, answers: [] }), /NODATA/);
});

test('doctor: a row per check, the fixes listed, the counts; exit statuses are distinct', (t) => {
  const checks: CheckResult[] = [
    { id: 'root', title: 'root', status: 'pass', detail: 'running as root' },
    { id: 'docker', title: 'Docker Engine', status: 'fail', detail: 'no answer', fix: 'start the engine' },
    { id: 'clock-skew', title: 'clock skew with the manager', status: 'skip', detail: 'not checked: needs a running agentd' },
  ];
  const out = formatDoctor(checks);
  t.regex(out, /^PASS +root +running as root$/m);
  t.regex(out, /^FAIL +Docker Engine +no answer$/m);
  t.regex(out, /^SKIP +clock skew with the manager +not checked/m);
  t.regex(out, /^to fix:\n {2}Docker Engine: start the engine$/m);
  t.regex(out, /^1 passed, 0 warnings, 1 failed, 1 not checked$/m);
  t.is(new Set(Object.values(EXIT)).size, Object.keys(EXIT).length);
  t.deepEqual([EXIT.OK, EXIT.USAGE, EXIT.AGENTD_NOT_RUNNING, EXIT.FAILED], [0, 2, 3, 4]);
});

test("a task's timings read as milliseconds since its assignment, in the order they happened", (t) => {
  const assigned = 1_800_000_000_000;
  t.is(
    formatTimings({ assigned, stored: { PREPARING: assigned + 3.4, ACCEPTED: assigned + 1.2, RUNNING: assigned + 212.6 }, runningReported: assigned + 240 }),
    'assigned, +1 ms ACCEPTED, +3 ms PREPARING, +213 ms RUNNING, +240 ms RUNNING reported',
  );
  t.is(formatTimings({ assigned, stored: {} }), 'assigned');
});
