// Pure cores of berth's host rules and gateway bridge: port validation (errors name the port),
// the nftables scripts for each mode, the sandbox redirector, the iptables FORWARD policy parse,
// and the gateway's names and address choice. Table-driven; no kernel needed.
import test from 'ava';
import { NetdValidationError, type NetdErrorCode } from '../../netd/errors.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../../netd/ipv4.js';
import {
  FORWARD_CHAIN,
  HostRules,
  deleteTableScript,
  forwardAccepts,
  forwardPolicy,
  hostRulesScript,
  publishedRules,
  sandboxRedirectScript,
  validatePublished,
  validateRedirects,
  type PublishedPort,
  type SandboxRedirect,
} from '../../netd/nat/index.js';
import { gatewayVethName, isGatewayVethName, pickAddress, usableAddress } from '../../netd/overlay/gateway.js';
import { isOwnedLinkName } from '../../netd/overlay/naming.js';

const MAX_IFNAME = 15;
const BRIDGE = 'berth_gwbridge';
const SUBNET = '172.31.0.0/16';

function host(port: number, owner: string, address = '172.31.0.5', targetPort = 80, protocol: 'tcp' | 'udp' = 'tcp'): PublishedPort {
  return { protocol, port, mode: 'host', address, targetPort, owner };
}

function ingress(port: number, protocol: 'tcp' | 'udp' = 'tcp'): PublishedPort {
  return { protocol, port, mode: 'ingress' };
}

function rejects(t: import('ava').ExecutionContext, fn: () => unknown, code: NetdErrorCode, mention: RegExp, title?: string): void {
  const err = t.throws(fn, { instanceOf: NetdValidationError }, title);
  t.is(err?.code, code, title);
  t.regex(err?.message ?? '', mention, title);
  t.false(err?.temporary, title);
}

// ---- validation ----

test('validatePublished: invalid ports and protocols name the port', (t) => {
  const rows: Array<[unknown, RegExp]> = [
    [{ protocol: 'tcp', port: 0, mode: 'ingress' }, /tcp port 0\b/],
    [{ protocol: 'tcp', port: 65536, mode: 'ingress' }, /tcp port 65536/],
    [{ protocol: 'tcp', port: 80.5, mode: 'ingress' }, /tcp port 80\.5/],
    [{ protocol: 'tcp', port: '80', mode: 'ingress' }, /tcp port "80"/],
    [{ protocol: 'sctp', port: 8080, mode: 'ingress' }, /sctp port 8080.*tcp.*udp/],
    [{ protocol: 'tcp', port: 8080, mode: 'bridge' }, /tcp port 8080.*mode/],
    [{ protocol: 'udp', port: 8080, mode: 'host', address: '172.31.0.5', targetPort: 0, owner: 't1' }, /udp port 8080.*target port 0/],
    [{ protocol: 'tcp', port: 8080, mode: 'host', address: '172.31.0.5', targetPort: 70000, owner: 't1' }, /tcp port 8080.*target port 70000/],
    [{ protocol: 'tcp', port: 8080, mode: 'host', address: '', targetPort: 80, owner: 't1' }, /tcp port 8080/],
    [{ protocol: 'tcp', port: 8080, mode: 'host', address: '172.31.0.5', targetPort: 80, owner: '' }, /tcp port 8080.*task/],
  ];
  for (const [p, mention] of rows) {
    const err = t.throws(() => validatePublished([p as PublishedPort]), { instanceOf: NetdValidationError }, JSON.stringify(p));
    t.true(err?.code === 'E_INVALID_PORT' || err?.code === 'E_INVALID_ADDRESS', JSON.stringify(p));
    t.regex(err?.message ?? '', mention, JSON.stringify(p));
  }
});

test('validatePublished: a port used for two different things is a conflict naming it', (t) => {
  rejects(t, () => validatePublished([ingress(8080), host(8080, 'task-a')]), 'E_PORT_CONFLICT', /tcp port 8080 is published twice: in ingress mode and in host mode by task task-a/);
  rejects(t, () => validatePublished([host(9000, 'task-a'), host(9000, 'task-b')]), 'E_PORT_CONFLICT', /tcp port 9000 .*task-a.*task-b/);
  rejects(t, () => validatePublished([host(9000, 'task-a', '172.31.0.5', 80), host(9000, 'task-a', '172.31.0.5', 81)]), 'E_PORT_CONFLICT', /tcp port 9000/);
});

test('validatePublished: repeats collapse, protocols are separate, output is sorted', (t) => {
  const out = validatePublished([ingress(8080), host(9000, 'a'), ingress(8080), host(9000, 'a'), ingress(8080, 'udp'), host(53, 'b', '172.31.0.9', 5353, 'udp'), ingress(443)]);
  t.deepEqual(out, [ingress(443), ingress(8080), host(9000, 'a'), host(53, 'b', '172.31.0.9', 5353, 'udp'), ingress(8080, 'udp')]);
  t.deepEqual(validatePublished([]), []);
});

test('validateRedirects: checks ports and addresses, rejects two targets for one port', (t) => {
  const r = (port: number, targetPort: number, address = '10.255.0.5', protocol: 'tcp' | 'udp' = 'tcp'): SandboxRedirect => ({ address, protocol, port, targetPort });
  t.deepEqual(validateRedirects([r(80, 8080), r(80, 8080), r(80, 53, '10.255.0.5', 'udp')]), [r(80, 8080), r(80, 53, '10.255.0.5', 'udp')]);
  rejects(t, () => validateRedirects([r(80, 8080), r(80, 8081)]), 'E_PORT_CONFLICT', /tcp port 80 on 10\.255\.0\.5/);
  rejects(t, () => validateRedirects([r(0, 8080)]), 'E_INVALID_PORT', /tcp port 0/);
  rejects(t, () => validateRedirects([r(80, 0)]), 'E_INVALID_PORT', /tcp port 80.*target port 0/);
  rejects(t, () => validateRedirects([r(80, 8080, 'nope')]), 'E_INVALID_ADDRESS', /tcp port 80.*"nope"/);
});

test('HostRules.setPublished validates before touching anything', async (t) => {
  const rules = new HostRules({ hostNetns: '/nonexistent/netns' });
  // Would fail on the namespace if it got that far; the validation error comes first.
  await t.throwsAsync(() => rules.setPublished([ingress(8080), host(8080, 'x')]), { instanceOf: NetdValidationError, message: /tcp port 8080/ });
  await t.throwsAsync(() => rules.setIngressAddress('10.0.0'), { instanceOf: NetdValidationError });
  t.throws(() => new HostRules({ bridgeName: 'a-name-far-too-long' }), { instanceOf: NetdValidationError });
  t.throws(() => new HostRules({ subnet: '172.31.0.0' }), { instanceOf: NetdValidationError });
  await rules.close();
});

// ---- host table ----

function state(ports: readonly PublishedPort[], ingressAddress?: string) {
  return { bridgeName: BRIDGE, subnet: SUBNET, ingressAddress, ports: validatePublished(ports) };
}

test('hostRulesScript: replaces only table ip berth, atomically', (t) => {
  const s = hostRulesScript(state([]));
  t.true(s.startsWith('table ip berth {}\ndelete table ip berth\ntable ip berth {\n'));
  t.is(s.match(/^table /gm)?.length, 2);
  t.notRegex(s, /flush ruleset|table (inet|ip6|bridge|arp) |table ip (?!berth)/);
  t.is(deleteTableScript(), 'table ip berth {}\ndelete table ip berth\n');
});

test('hostRulesScript: masquerade, ICC off, forward accepts and localhost access are always there', (t) => {
  const s = hostRulesScript({ bridgeName: BRIDGE, subnet: '172.31.4.9/16', ingressAddress: undefined, ports: [] });
  for (const line of [
    'type nat hook postrouting priority 100; policy accept;',
    'ip saddr 172.31.0.0/16 oifname != "berth_gwbridge" masquerade',
    'oifname "berth_gwbridge" fib saddr type local masquerade',
    'type filter hook forward priority 0; policy accept;',
    'iifname "berth_gwbridge" oifname "berth_gwbridge" drop',
    'iifname "berth_gwbridge" accept',
    'oifname "berth_gwbridge" ct state established,related accept',
    'oifname "berth_gwbridge" ct status dnat accept',
    'type nat hook prerouting priority -100; policy accept;',
    'type nat hook output priority -100; policy accept;',
  ]) {
    t.true(s.includes(`    ${line}\n`), line);
  }
  t.is(s.match(/fib daddr type local jump published/g)?.length, 2);
  // ICC drop comes before the bridge's accept.
  t.true(s.indexOf('oifname "berth_gwbridge" drop') < s.indexOf('iifname "berth_gwbridge" accept'));
});

test('publishedRules: ingress ports DNAT to the ingress address with the port unchanged, as one set per protocol', (t) => {
  t.deepEqual(publishedRules(validatePublished([ingress(8080), ingress(443), ingress(53, 'udp')]), '172.31.0.2'), [
    'tcp dport { 443, 8080 } dnat to 172.31.0.2',
    'udp dport { 53 } dnat to 172.31.0.2',
  ]);
  // No ingress address yet: the ports are reserved but go nowhere.
  t.deepEqual(publishedRules(validatePublished([ingress(8080)]), undefined), []);
});

test('publishedRules: host-mode ports DNAT to the task address and target port through one map per protocol', (t) => {
  t.deepEqual(publishedRules(validatePublished([host(30080, 'a', '172.31.0.5', 80), host(30081, 'b', '172.31.0.6', 8080), host(30053, 'a', '172.31.0.5', 53, 'udp')]), undefined), [
    'meta l4proto tcp dnat to tcp dport map { 30080 : 172.31.0.5 . 80, 30081 : 172.31.0.6 . 8080 }',
    'meta l4proto udp dnat to udp dport map { 30053 : 172.31.0.5 . 53 }',
  ]);
});

test('hostRulesScript: both modes together land in the published chain', (t) => {
  const s = hostRulesScript(state([ingress(8080), host(30080, 'a')], '172.31.0.2'));
  const chain = /chain published \{\n([\s\S]*?)\n {2}\}/.exec(s)?.[1] ?? '';
  t.deepEqual(
    chain.split('\n').map((l) => l.trim()),
    ['tcp dport { 8080 } dnat to 172.31.0.2', 'meta l4proto tcp dnat to tcp dport map { 30080 : 172.31.0.5 . 80 }'],
  );
});

test('hostRulesScript: rejects a bad bridge name, subnet or ingress address', (t) => {
  t.throws(() => hostRulesScript({ ...state([]), bridgeName: 'br"; flush ruleset' }), { instanceOf: NetdValidationError });
  t.throws(() => hostRulesScript({ ...state([]), subnet: 'x' }), { instanceOf: NetdValidationError });
  t.throws(() => hostRulesScript({ ...state([]), ingressAddress: '1.2.3' }), { instanceOf: NetdValidationError });
});

// ---- sandbox redirector ----

test('sandboxRedirectScript: one map per address and protocol; empty removes the table', (t) => {
  const s = sandboxRedirectScript(
    validateRedirects([
      { address: '10.255.0.5', protocol: 'tcp', port: 80, targetPort: 8080 },
      { address: '10.255.0.5', protocol: 'tcp', port: 443, targetPort: 8443 },
      { address: '10.255.0.5', protocol: 'udp', port: 53, targetPort: 5353 },
    ]),
  );
  t.true(s.startsWith(deleteTableScript()));
  t.true(s.includes('type nat hook prerouting priority -100; policy accept;'));
  t.true(s.includes('ip daddr 10.255.0.5 meta l4proto tcp redirect to tcp dport map { 80 : 8080, 443 : 8443 }'));
  t.true(s.includes('ip daddr 10.255.0.5 meta l4proto udp redirect to udp dport map { 53 : 5353 }'));
  t.is(sandboxRedirectScript([]), deleteTableScript());
});

// ---- iptables ----

test('forwardPolicy reads the FORWARD policy from iptables -S', (t) => {
  t.is(forwardPolicy('-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n'), 'DROP');
  t.is(forwardPolicy('-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n'), 'ACCEPT');
  t.is(forwardPolicy(''), undefined);
});

test('forwardAccepts: the bridge\'s traffic and DNAT-ed published traffic, never bridge to bridge', (t) => {
  t.is(FORWARD_CHAIN, 'BERTH-FORWARD');
  const rules = forwardAccepts(BRIDGE).map((r) => r.join(' '));
  t.deepEqual(rules, [
    `-i ${BRIDGE} ! -o ${BRIDGE} -j ACCEPT`,
    `-o ${BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-o ${BRIDGE} -m conntrack --ctstate DNAT -j ACCEPT`,
  ]);
});

// ---- gateway bridge: names and addresses ----

test('gatewayVethName: stable, at most 15 bytes, its own prefix', (t) => {
  for (const key of ['a', 'task-0123456789abcdefghijklmnop', 'ingress-sbox']) {
    const name = gatewayVethName(key);
    t.true(name.length <= MAX_IFNAME, name);
    t.is(name, gatewayVethName(key));
    t.true(isGatewayVethName(name));
    // Not something the overlay's reconcile would claim.
    t.false(isOwnedLinkName(name));
  }
  t.not(gatewayVethName('a'), gatewayVethName('b'));
  t.false(isGatewayVethName('bv0123456789a'));
});

test('pickAddress: deterministic per key, skips the network, the bridge, the broadcast and taken ones', (t) => {
  const c = parseCidr('172.31.0.0/16');
  const first = pickAddress(c, 'task-1', new Set())!;
  t.is(pickAddress(c, 'task-1', new Set()), first);
  t.true(usableAddress(c, first));
  const next = pickAddress(c, 'task-1', new Set([first]))!;
  t.not(next, first);
  t.true(usableAddress(c, next));
  // A /30 has exactly one address for a sandbox.
  const tiny = parseCidr('10.9.9.0/30');
  t.is(formatIpv4(pickAddress(tiny, 'x', new Set())!), '10.9.9.2');
  t.is(pickAddress(tiny, 'x', new Set([parseIpv4('10.9.9.2')!])), undefined);
  for (const bad of ['10.9.9.0', '10.9.9.1', '10.9.9.3']) t.false(usableAddress(tiny, parseIpv4(bad)!), bad);
  // Across many keys every choice is usable.
  const taken = new Set<number>();
  const small = parseCidr('10.8.0.0/27');
  for (let i = 0; i < 29; i++) {
    const a = pickAddress(small, `k${i}`, taken)!;
    t.true(usableAddress(small, a));
    t.false(taken.has(a));
    taken.add(a);
  }
  t.is(pickAddress(small, 'one-too-many', taken), undefined);
});
