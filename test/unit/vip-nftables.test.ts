// The nftables VIP backend's pure core: validation, weight → slots, the full table and the diff.
import test from 'ava';
import { NetdValidationError, type NetdErrorCode } from '../../netd/errors.js';
import { BUCKETS, MAX_SLOTS, planState, renderDiff, renderFull, resolveTimeouts, slotsFor, validateLbSpec } from '../../netd/vip/nftables.js';
import type { LbService, LoadBalancerSpec } from '../../netd/vip/types.js';

const T = resolveTimeouts();

function spec(services: LbService[]): LoadBalancerSpec {
  return { netnsPath: '/run/berth/netns/x', sourceAddress: '10.0.1.2', subnet: '10.0.1.0/24', services };
}

function svc(key: string, vip: string | undefined, backends: Array<[string, number]>, ports: LbService['ports'] = []): LbService {
  return { key, ...(vip ? { vip } : {}), ports, backends: backends.map(([ip, weight]) => ({ ip, weight })) };
}

test('slots: weight w gives w slots, interleaved; weight 0 none; GCD reduced', (t) => {
  t.deepEqual(slotsFor([{ ip: 'a', weight: 1 }, { ip: 'b', weight: 1 }]), ['a', 'b']);
  t.deepEqual(slotsFor([{ ip: 'a', weight: 3 }, { ip: 'b', weight: 1 }]), ['a', 'a', 'b', 'a']);
  t.deepEqual(slotsFor([{ ip: 'a', weight: 300 }, { ip: 'b', weight: 100 }]), ['a', 'a', 'b', 'a']);
  t.deepEqual(slotsFor([{ ip: 'a', weight: 0 }, { ip: 'b', weight: 2 }]), ['b']);
  t.deepEqual(slotsFor([{ ip: 'a', weight: 0 }]), []);
  t.deepEqual(slotsFor([]), []);
});

test('slots: large co-prime weights are scaled under MAX_SLOTS, keeping every live backend', (t) => {
  const s = slotsFor([{ ip: 'a', weight: 65_535 }, { ip: 'b', weight: 65_534 }, { ip: 'c', weight: 1 }]);
  t.true(s.length <= MAX_SLOTS);
  t.true(s.includes('c'));
  const a = s.filter((x) => x === 'a').length;
  const b = s.filter((x) => x === 'b').length;
  t.true(Math.abs(a - b) <= 1);
});

test('full table: replaces atomically, slots per weight, refuse with no live backend, ports via fib local', (t) => {
  const st = planState(spec([svc('web', '10.0.1.100', [['10.0.1.10', 3], ['10.0.1.11', 1]], [{ protocol: 'tcp', port: 8080 }]), svc('none', '10.0.1.101', [['10.0.1.12', 0]])]), T);
  const s = renderFull(st);
  t.true(s.startsWith('table ip berth-vip {}\ndelete table ip berth-vip\ntable ip berth-vip {'));
  t.regex(s, /ip daddr 10\.0\.1\.100 ct mark set numgen inc mod 4 offset 0x80001000 goto lb/);
  t.regex(s, /meta l4proto tcp th dport 8080 ct mark set numgen inc mod 4 offset 0x80001000 goto lb/);
  t.regex(s, /ip daddr 10\.0\.1\.101 goto refuse/);
  t.regex(s, /meta l4proto tcp reject with tcp reset\n\s+reject/);
  t.regex(s, /add element ip berth-vip slots \{ 0x80001000 : 10\.0\.1\.10, 0x80001001 : 10\.0\.1\.10, 0x80001002 : 10\.0\.1\.11, 0x80001003 : 10\.0\.1\.10 \}/);
  t.regex(s, /add element ip berth-vip vips \{ 10\.0\.1\.100 : goto b_1, 10\.0\.1\.101 : goto b_2 \}/);
  t.regex(s, /add element ip berth-vip ports \{ tcp \. 8080 : goto b_1 \}/);
  t.regex(s, /fib daddr type local ip daddr != 127\.0\.0\.0\/8 meta l4proto \. th dport vmap @ports/);
  t.regex(s, /ct mark & 0x80000000 == 0x80000000 ip daddr 10\.0\.1\.0\/24 snat ip to 10\.0\.1\.2/);
  t.regex(s, /policy = \{ established: 86400, fin_wait: 120, close_wait: 120/);
  t.regex(s, /replied: 300/);
  t.is(s.match(/chain b_\d+/g)?.length, BUCKETS);
});

test('diff: one backend change touches only its bucket and its slot elements', (t) => {
  const many = Array.from({ length: 600 }, (_, i) => svc(`s${i}`, `10.9.${i >> 8}.${i & 255}`, [['10.0.1.10', 1], ['10.0.1.11', 1]]));
  const sp = { ...spec(many), subnet: '10.0.0.0/8' };
  const a = planState(sp, T);
  const changed = many.map((s) => (s.key === 's7' ? svc('s7', s.vip, [['10.0.1.10', 1], ['10.0.1.12', 1]]) : s));
  const b = planState({ ...sp, services: changed }, T, a);
  const d = renderDiff(a, b);
  t.is(b.services.get('s7')!.number, a.services.get('s7')!.number, 'numbers stay');
  t.is(d.match(/^flush chain/gm)?.length, undefined, 'same slot count: no rule changes');
  t.is(d, 'delete element ip berth-vip slots { 0x80008001 }\nadd element ip berth-vip slots { 0x80008001 : 10.0.1.12 }\n');
  const grown = many.map((s) => (s.key === 's7' ? svc('s7', s.vip, [['10.0.1.10', 1], ['10.0.1.11', 1], ['10.0.1.12', 1]]) : s));
  const d2 = renderDiff(a, planState({ ...sp, services: grown }, T, a));
  t.deepEqual(d2.match(/^flush chain ip berth-vip \S+/gm), ['flush chain ip berth-vip b_8']);
  const rules = d2.match(/^add rule .*/gm)!;
  t.true(rules.length <= Math.ceil(600 / BUCKETS) + 1, 'only the bucket is rewritten');
  t.true(rules.some((r) => r.includes('mod 3 offset 0x80008000')));
  t.regex(d2, /add element ip berth-vip slots \{ 0x80008002 : 10\.0\.1\.12 \}/);
});

test('diff: same spec → empty; removed and added services; VIP and port moves', (t) => {
  const sp = spec([svc('a', '10.0.1.100', [['10.0.1.10', 1]], [{ protocol: 'udp', port: 53 }]), svc('b', '10.0.1.101', [['10.0.1.11', 1]])]);
  const a = planState(sp, T);
  t.is(renderDiff(a, planState(sp, T, a)), '');
  const sp2 = spec([svc('a', '10.0.1.110', [['10.0.1.10', 1]], [{ protocol: 'tcp', port: 53 }]), svc('c', '10.0.1.101', [])]);
  const b = planState(sp2, T, a);
  t.is(b.services.get('c')!.number, 2, 'the freed number is reused');
  const d = renderDiff(a, b);
  t.regex(d, /delete element ip berth-vip vips \{ 10\.0\.1\.101, 10\.0\.1\.100 \}/);
  t.regex(d, /delete element ip berth-vip ports \{ udp \. 53 \}/);
  t.regex(d, /delete element ip berth-vip slots \{ 0x80002000 \}/);
  t.regex(d, /add rule ip berth-vip b_2 ip daddr 10\.0\.1\.101 goto refuse/);
  t.regex(d, /add element ip berth-vip vips \{ 10\.0\.1\.110 : goto b_1, 10\.0\.1\.101 : goto b_2 \}/);
  t.regex(d, /add element ip berth-vip ports \{ tcp \. 53 : goto b_1 \}/);
  t.true(d.indexOf('delete element') < d.indexOf('flush chain') && d.indexOf('flush chain') < d.indexOf('add element'), 'deletes, rules, adds');
});

test('diff: a new source address rewrites only the SNAT rule', (t) => {
  const sp = spec([svc('a', '10.0.1.100', [['10.0.1.10', 1]])]);
  const a = planState(sp, T);
  t.is(renderDiff(a, planState({ ...sp, sourceAddress: '10.0.1.3' }, T, a)), 'flush chain ip berth-vip postrouting\nadd rule ip berth-vip postrouting ct mark & 0x80000000 == 0x80000000 ip daddr 10.0.1.0/24 snat ip to 10.0.1.3\n');
});

const bad: Array<[string, LoadBalancerSpec, NetdErrorCode]> = [
  ['relative netns path', { ...spec([]), netnsPath: 'x' }, 'E_INVALID_OPTION'],
  ['bad subnet', { ...spec([]), subnet: '10.0.1.0/33' }, 'E_INVALID_CIDR'],
  ['bad source', { ...spec([]), sourceAddress: '10.0.1' }, 'E_INVALID_ADDRESS'],
  ['source outside subnet', { ...spec([]), sourceAddress: '10.0.2.2' }, 'E_INVALID_ADDRESS'],
  ['duplicate key', spec([svc('a', undefined, []), svc('a', undefined, [])]), 'E_INVALID_OPTION'],
  ['bad VIP', spec([svc('a', '10.0.1.300', [])]), 'E_INVALID_ADDRESS'],
  ['VIP twice', spec([svc('a', '10.0.1.100', []), svc('b', '10.0.1.100', [])]), 'E_ADDRESS_IN_USE'],
  ['VIP = source', spec([svc('a', '10.0.1.2', [])]), 'E_ADDRESS_IN_USE'],
  ['port 0', spec([svc('a', undefined, [], [{ protocol: 'tcp', port: 0 }])]), 'E_INVALID_PORT'],
  ['port 65536', spec([svc('a', undefined, [], [{ protocol: 'tcp', port: 65_536 }])]), 'E_INVALID_PORT'],
  ['sctp', spec([svc('a', undefined, [], [{ protocol: 'sctp' as 'tcp', port: 80 }])]), 'E_INVALID_PORT'],
  ['port twice', spec([svc('a', undefined, [], [{ protocol: 'tcp', port: 80 }]), svc('b', undefined, [], [{ protocol: 'tcp', port: 80 }])]), 'E_PORT_CONFLICT'],
  ['weight -1', spec([svc('a', undefined, [['10.0.1.10', -1]])]), 'E_INVALID_ENDPOINT'],
  ['weight 1.5', spec([svc('a', undefined, [['10.0.1.10', 1.5]])]), 'E_INVALID_ENDPOINT'],
  ['weight 65536', spec([svc('a', undefined, [['10.0.1.10', 65_536]])]), 'E_INVALID_ENDPOINT'],
  ['backend twice', spec([svc('a', undefined, [['10.0.1.10', 1], ['10.0.1.10', 1]])]), 'E_INVALID_ENDPOINT'],
  ['backend outside subnet', spec([svc('a', undefined, [['10.0.2.10', 1]])]), 'E_INVALID_ADDRESS'],
];

for (const [name, s, code] of bad) {
  test(`validation: ${name} → ${code}`, (t) => {
    const err = t.throws(() => validateLbSpec(s), { instanceOf: NetdValidationError });
    t.is(err?.code, code);
  });
}

test('validation: backends already checked for the same subnet are skipped, others are not', (t) => {
  const good = spec([svc('a', '10.0.1.100', [['10.0.1.10', 1]])]);
  const st = planState(good, T);
  t.notThrows(() => validateLbSpec(good, st));
  t.throws(() => validateLbSpec(spec([svc('a', '10.0.1.100', [['10.0.1.10', 1], ['10.0.1.999', 1]])]), st), { instanceOf: NetdValidationError });
  t.throws(() => validateLbSpec({ ...good, subnet: '10.0.2.0/24', sourceAddress: '10.0.2.2' }, st), { instanceOf: NetdValidationError });
});

test('validation: the same tcp and udp port are fine; timeouts must be positive integers', (t) => {
  t.notThrows(() => validateLbSpec(spec([svc('a', undefined, [], [{ protocol: 'tcp', port: 53 }, { protocol: 'udp', port: 53 }])])));
  t.throws(() => resolveTimeouts({ tcp: 0 }), { instanceOf: NetdValidationError });
  t.deepEqual(resolveTimeouts({ udp: 60 }), { tcp: 86_400, tcpFin: 120, udp: 60 });
});
