// The nftables VIP backend's pure core: validation, weight → slots, the full table and the diff.
import test from 'ava';
import { NetdValidationError, type NetdErrorCode } from '../../netd/errors.js';
import {
  BUCKETS,
  bucketLayout,
  commitUpdates,
  diffServices,
  indexState,
  MAX_SLOTS,
  onlyBackends,
  planChanged,
  planState,
  REFUSE_MARK,
  renderDiff,
  renderFull,
  resolveTimeouts,
  serviceRuleExprs,
  slotEntries,
  slotsFor,
  validateLbSpec,
} from '../../netd/vip/nftables.js';
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
  // b_1: the VIP rule, the VIPs' exit, the port rule, the end; a rule never carries a verdict
  // of its own, so replacing one never makes the kernel re-validate the table's jumps.
  t.regex(s, /chain b_1 \{\n\s+ip daddr 10\.0\.1\.100 ct mark set numgen inc mod 4 offset 0x80001000\n\s+ct mark & 0x80000000 == 0x80000000 goto lb\n\s+meta l4proto tcp th dport 8080 ct mark set numgen inc mod 4 offset 0x80001000\n\s+goto lb\n\s+\}/);
  t.regex(s, /chain b_2 \{\n\s+ip daddr 10\.0\.1\.101 ct mark set numgen inc mod 1 offset 0x80000000\n\s+goto lb\n\s+\}/);
  t.regex(s, /chain lb \{\n\s+ct mark 0x80000000 goto refuse\n/);
  t.regex(s, /chain b_0 \{ \}/);
  t.regex(s, /meta l4proto tcp reject with tcp reset\n\s+reject/);
  t.regex(s, /add element ip berth-vip slots \{ 2147487744 : 10\.0\.1\.10, 2147487745 : 10\.0\.1\.10, 2147487746 : 10\.0\.1\.11, 2147487747 : 10\.0\.1\.10 \}/);
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
  t.regex(d, /add rule ip berth-vip b_2 ip daddr 10\.0\.1\.101 ct mark set numgen inc mod 1 offset 0x80000000\n/);
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

// ---- the O(changed) path: planChanged, the change, the layout the netlink path relies on ----

function world(n: number): { sp: LoadBalancerSpec; st: ReturnType<typeof planState>; index: ReturnType<typeof indexState> } {
  const services = Array.from({ length: n }, (_, i) => svc(`s${i}`, `10.9.${i >> 8}.${i & 255}`, [['10.0.1.10', 1], ['10.0.1.11', 1]], i % 3 === 0 ? [{ protocol: 'tcp', port: 1000 + i }] : []));
  const sp = { ...spec(services), subnet: '10.0.0.0/8', sourceAddress: '10.0.0.2' };
  const st = planState(sp, T);
  return { sp, st, index: indexState(st, sp) };
}

test('changed: only the named services are read, checked and planned', (t) => {
  const { sp, st, index } = world(600);
  let reads = 0;
  const services = sp.services.map((s, i) => (i === 0 ? svc('s0', '10.9.0.0', [['10.0.1.12', 1]], [{ protocol: 'tcp', port: 1000 }]) : s));
  const counted = new Proxy(services, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) reads++;
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  const updates = planChanged({ ...sp, services: counted, changed: new Set(['s0']) }, st, index)!;
  t.true(reads <= 2, `read ${reads} services`);
  t.deepEqual([...updates.keys()], ['s0']);
  t.deepEqual(updates.get('s0')!.slots, ['10.0.1.12']);
  t.is(updates.get('s0')!.number, st.services.get('s0')!.number);
  const c = diffServices(st.services, updates.keys(), (k) => updates.get(k));
  t.true(onlyBackends(c), 'backends only: the netlink path');
  t.deepEqual(c.resized.map((s) => s.key), ['s0'], 'two slots → one: the rules are replaced');
  t.deepEqual(c.delSlots.length, 2);
  t.deepEqual(c.addSlots, [[0x8000_0000 + (st.services.get('s0')!.number << 12), '10.0.1.12']]);
});

test('changed: conflicts with unchanged services are caught; a VIP may move between changed ones', (t) => {
  const { sp, st, index } = world(10);
  const replace = (over: Record<string, LbService>): LbService[] => sp.services.map((s) => over[s.key] ?? s);
  const err = t.throws(() => planChanged({ ...sp, services: replace({ s1: svc('s1', '10.9.0.2', []) }), changed: new Set(['s1']) }, st, index), { instanceOf: NetdValidationError });
  t.is(err?.code, 'E_ADDRESS_IN_USE');
  const portErr = t.throws(() => planChanged({ ...sp, services: replace({ s1: svc('s1', '10.9.0.1', [], [{ protocol: 'tcp', port: 1003 }]) }), changed: new Set(['s1']) }, st, index), { instanceOf: NetdValidationError });
  t.is(portErr?.code, 'E_PORT_CONFLICT');
  t.throws(() => planChanged({ ...sp, services: replace({ s1: svc('s1', '10.9.0.1', [['10.1.0.300', 1]]) }), changed: new Set(['s1']) }, st, index), { instanceOf: NetdValidationError });
  const swapped = replace({ s1: svc('s1', '10.9.0.2', []), s2: svc('s2', '10.9.0.1', []) });
  const updates = planChanged({ ...sp, services: swapped, changed: new Set(['s1', 's2']) }, st, index)!;
  t.is(updates.get('s1')!.vip, '10.9.0.2');
  t.false(onlyBackends(diffServices(st.services, updates.keys(), (k) => updates.get(k))), 'VIPs moved: the nft path');
});

test('changed: a spec that breaks the promise falls back to the full diff', (t) => {
  const { sp, st, index } = world(10);
  const extra = [...sp.services, svc('new', '10.9.9.9', [])];
  t.is(planChanged({ ...sp, services: extra, changed: new Set(['s1']) }, st, index), undefined, 'one more service than the changed keys explain');
  t.is(planChanged({ ...sp, subnet: '10.0.0.0/9', changed: new Set(['s1']) }, st, index), undefined, 'another subnet');
  t.is(planChanged(sp, st, index), undefined, 'no changed set');
});

test('changed: services come and go, numbers are reused, and the result equals the full plan', (t) => {
  const { sp, st, index } = world(40);
  let services = [...sp.services];
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) & 0x7fff_ffff) % n);
  for (let round = 0; round < 60; round++) {
    const changed = new Set<string>();
    const op = rnd(3);
    if (op === 0 && services.length > 1) {
      const [gone] = services.splice(rnd(services.length), 1);
      changed.add(gone!.key);
    } else if (op === 1) {
      const key = `n${round}`;
      services.push(svc(key, `10.8.0.${round}`, [['10.0.1.20', 1 + rnd(3)]]));
      changed.add(key);
    } else {
      const i = rnd(services.length);
      const s = services[i]!;
      services = services.map((x, j) => (j === i ? svc(s.key, s.vip, Array.from({ length: 1 + rnd(4) }, (_, b) => [`10.0.2.${b}`, rnd(3)]), [...s.ports]) : x));
      changed.add(s.key);
    }
    const next = { ...sp, services, changed };
    const updates = planChanged(next, st, index)!;
    t.truthy(updates, `round ${round}`);
    commitUpdates(st, index, updates);
  }
  const full = planState({ ...sp, services }, T);
  const shape = (m: Map<string, { vip: string | undefined; ports: string[]; slots: string[] }>): unknown => [...m.values()].map((s) => [s.vip, s.ports, s.slots]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  t.deepEqual(shape(st.services), shape(full.services));
  const numbers = [...st.services.values()].map((s) => s.number);
  t.is(new Set(numbers).size, numbers.length, 'numbers stay unique');
  const sorted = (m: Map<unknown, unknown>): unknown[] => [...m].map(([k, v]) => [k, v instanceof Set ? [...v].sort() : v]).filter(([, v]) => !Array.isArray(v) || v.length > 0).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const fresh = indexState(st);
  t.deepEqual(sorted(index.vips), sorted(fresh.vips), 'the index kept up');
  t.deepEqual(sorted(index.ports), sorted(fresh.ports));
  t.deepEqual(sorted(index.buckets), sorted(fresh.buckets));
  t.deepEqual([...index.numbers].sort(), [...fresh.numbers].sort());
});

test('layout: a bucket is VIP rules, the VIPs exit, port rules, the end; rules carry no verdict', (t) => {
  const st = planState(spec([svc('a', '10.0.1.100', [['10.0.1.10', 1]], [{ protocol: 'udp', port: 53 }]), svc('b', '10.0.1.101', [])]), T);
  const a = st.services.get('a')!;
  const members = [...st.services.values()].filter((s) => s.number % BUCKETS === a.number % BUCKETS);
  t.deepEqual(
    bucketLayout(members).map((r) => ('fixed' in r ? r.fixed : `${r.service.key}#${r.rule}`)),
    ['a#0', 'vips-done', 'a#1', 'end'],
  );
  t.is(serviceRuleExprs(a).length, 2);
  for (const rule of [...serviceRuleExprs(a), ...serviceRuleExprs(st.services.get('b')!)]) t.false(rule.some((e) => e.kind === 'goto'), 'a goto would make the kernel re-validate the table');
  t.deepEqual(serviceRuleExprs(st.services.get('b')!)[0]!.slice(2, 3), [{ kind: 'numgen-inc', modulus: 1, offset: REFUSE_MARK }], 'no live backend: the refuse mark');
});

test('full table in place: the staged slot map stays, everything else is deleted and rebuilt', (t) => {
  const st = { ...planState(spec([svc('a', '10.0.1.100', [['10.0.1.10', 1]])]), T), slotsSet: 'slots2' };
  const s = renderFull(st, { chains: ['lb', 'b_0'], sets: [{ name: 'vips', map: true }, { name: 'slots', map: true }], objects: [{ name: 'lb-tcp', keyword: 'ct timeout' }] });
  t.true(s.startsWith('flush table ip berth-vip\ndelete map ip berth-vip vips\ndelete map ip berth-vip slots\ndelete chain ip berth-vip lb\ndelete chain ip berth-vip b_0\ndelete ct timeout ip berth-vip lb-tcp\ntable ip berth-vip {'));
  t.notRegex(s, /map slots2 \{|add element ip berth-vip slots2/);
  t.regex(s, /dnat ip to ct mark map @slots2/);
  t.deepEqual(slotEntries(st), [[0x8000_1000, 0x0a00_010a]]);
});
