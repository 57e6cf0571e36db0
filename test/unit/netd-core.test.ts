// Pure cores of netd's overlay: IPv4 arithmetic, validation, naming, refcounted endpoint tables
// and the kernel-table diff. Table-driven; no kernel needed.
import test from 'ava';
import { EndpointTable, diffTables, emptyTables, isEmptyDiff } from '../../netd/overlay/endpoints.js';
import { NetdValidationError, type NetdErrorCode } from '../../netd/errors.js';
import { containerMac, contains, formatIpv4, overlaps, parseCidr, parseIpv4 } from '../../netd/ipv4.js';
import { isOwnedLinkName, isOwnedNetnsName, overlayNetnsName, sandboxIfname, vethHostName, vethPeerName } from '../../netd/overlay/naming.js';
import { checkNetworkConflicts, normalizeAddresses, normalizeEndpoint, normalizeNetwork, type RemoteEndpoint } from '../../netd/overlay/validate.js';
import type { OverlayNetworkSpec } from '../../netd/types.js';

const NET_A: OverlayNetworkSpec = { id: 'neta', name: 'front', vni: 4097, subnet: '10.0.1.0/24', gateway: '10.0.1.1' };
const NET_B: OverlayNetworkSpec = { id: 'netb', name: 'back', vni: 4098, subnet: '10.0.2.0/24', gateway: '10.0.2.1' };
const MAX_IFNAME = 15;

function ep(ip: string, vtep: string, mac?: string): RemoteEndpoint {
  return normalizeEndpoint({ network: 'neta', ip, vtep, mac });
}

// ---- ipv4 ----

test('parseIpv4 accepts dotted quads and rejects everything else', (t) => {
  t.is(parseIpv4('10.0.1.5'), 0x0a000105);
  t.is(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.0.1', '10.0.1.256', '010.0.0.1', '1.2.3.4.5', '', 'a.b.c.d', '::1', ' 1.2.3.4']) t.is(parseIpv4(bad), undefined, bad);
});

test('parseCidr keeps the written address and clears host bits for the network', (t) => {
  const c = parseCidr('10.0.1.5/24');
  t.is(formatIpv4(c.address), '10.0.1.5');
  t.is(formatIpv4(c.network), '10.0.1.0');
  t.is(parseCidr('0.0.0.0/0').network, 0);
  for (const bad of ['10.0.1.0', '10.0.1.0/33', '10.0.1.0/-1', '10.0.1.0/24/1', '10.0.1.0/x', 'nope/24']) {
    t.throws(() => parseCidr(bad), { instanceOf: NetdValidationError, message: /is not an IPv4 CIDR/ }, bad);
  }
});

test('overlap and containment', (t) => {
  const rows: Array<[string, string, boolean]> = [
    ['10.0.0.0/16', '10.0.1.0/24', true],
    ['10.0.1.0/24', '10.0.2.0/24', false],
    ['10.0.0.0/8', '11.0.0.0/8', false],
    ['0.0.0.0/0', '192.168.0.0/16', true],
    ['10.0.1.0/25', '10.0.1.128/25', false],
  ];
  for (const [a, b, want] of rows) {
    t.is(overlaps(parseCidr(a), parseCidr(b)), want, `${a} ~ ${b}`);
    t.is(overlaps(parseCidr(b), parseCidr(a)), want, `${b} ~ ${a}`);
  }
  t.true(contains(parseCidr('10.0.1.0/24'), parseIpv4('10.0.1.255')!));
  t.false(contains(parseCidr('10.0.1.0/24'), parseIpv4('10.0.2.1')!));
});

test("containerMac is Docker's 02:42:<IPv4 bytes>", (t) => {
  t.is(containerMac(parseIpv4('10.0.1.5')!), '02:42:0a:00:01:05');
  t.is(containerMac(parseIpv4('192.168.255.1')!), '02:42:c0:a8:ff:01');
});

// ---- validation ----

test('a valid network normalizes', (t) => {
  const n = normalizeNetwork(NET_A);
  t.like(n, { id: 'neta', name: 'front', vni: 4097 });
  t.is(formatIpv4(n.gateway), '10.0.1.1');
});

const BAD_NETWORKS: Array<[string, Partial<OverlayNetworkSpec>, NetdErrorCode, RegExp]> = [
  ['VNI 0', { vni: 0 }, 'E_INVALID_VNI', /VNI 0 is outside 1\.\.16777215/],
  ['VNI above 24 bits', { vni: 1 << 24 }, 'E_INVALID_VNI', /outside/],
  ['fractional VNI', { vni: 1.5 }, 'E_INVALID_VNI', /outside/],
  ['subnet not CIDR', { subnet: '10.0.1.0' }, 'E_INVALID_CIDR', /not an IPv4 CIDR/],
  ['subnet with host bits', { subnet: '10.0.1.7/24' }, 'E_INVALID_CIDR', /host bits set; did you mean 10\.0\.1\.0\/24/],
  ['subnet too small', { subnet: '10.0.1.0/31', gateway: '10.0.1.0' }, 'E_INVALID_CIDR', /too small/],
  ['gateway outside', { gateway: '10.0.9.1' }, 'E_INVALID_ADDRESS', /not a host address of 10\.0\.1\.0\/24/],
  ['gateway is the network address', { gateway: '10.0.1.0' }, 'E_INVALID_ADDRESS', /not a host address/],
  ['gateway not an address', { gateway: 'gw' }, 'E_INVALID_ADDRESS', /not an IPv4 address/],
  ['id with a slash', { id: '../x' }, 'E_INVALID_NETWORK', /must be letters/],
];
for (const [name, patch, code, message] of BAD_NETWORKS) {
  test(`network rejected: ${name}`, (t) => {
    const err = t.throws(() => normalizeNetwork({ ...NET_A, ...patch } as OverlayNetworkSpec), { instanceOf: NetdValidationError, message });
    t.is(err?.code, code);
  });
}

test('conflicts: VNI reuse, overlapping subnets, a changed definition', (t) => {
  const a = normalizeNetwork(NET_A);
  t.notThrows(() => checkNetworkConflicts([a], normalizeNetwork(NET_B)));
  t.notThrows(() => checkNetworkConflicts([a], normalizeNetwork(NET_A)), 'the same definition twice is fine');
  t.like(t.throws(() => checkNetworkConflicts([a], normalizeNetwork({ ...NET_B, vni: 4097 }))), {
    code: 'E_VNI_CONFLICT',
    message: 'network netb (back) wants VNI 4097, already used by network neta (front)',
  });
  t.like(t.throws(() => checkNetworkConflicts([a], normalizeNetwork({ ...NET_B, subnet: '10.0.0.0/16', gateway: '10.0.0.1' }))), {
    code: 'E_SUBNET_OVERLAP',
    message: 'network netb (back) subnet 10.0.0.0/16 overlaps network neta (front) subnet 10.0.1.0/24',
  });
  t.like(t.throws(() => checkNetworkConflicts([a], normalizeNetwork({ ...NET_A, vni: 5000 }))), { code: 'E_NETWORK_CHANGED' });
});

test('attachment addresses: with or without a length, inside the subnet, usable', (t) => {
  const net = normalizeNetwork(NET_A);
  t.deepEqual(
    normalizeAddresses({ networkId: 'neta', addresses: ['10.0.1.5/24', '10.0.1.6'] }, net).map((a) => [formatIpv4(a.ip), a.prefixLen]),
    [
      ['10.0.1.5', 24],
      ['10.0.1.6', 24],
    ],
  );
  const bad: Array<[readonly string[], RegExp]> = [
    [[], /no addresses/],
    [['10.0.2.5/24'], /not in the network's subnet/],
    [['10.0.1.5/16'], /not in the network's subnet/],
    [['10.0.1.1'], /gateway/],
    [['10.0.1.255'], /broadcast/],
    [['10.0.1.0/24'], /network, broadcast/],
    [['10.0.1.5', '10.0.1.5/24'], /listed twice/],
    [['fe80::1/64'], /not an IPv4 CIDR/],
  ];
  for (const [addresses, message] of bad) t.throws(() => normalizeAddresses({ networkId: 'neta', addresses }, net), { instanceOf: NetdValidationError, message }, addresses.join());
});

test('endpoints: MAC defaults to the container MAC; bad input is named', (t) => {
  t.deepEqual(ep('10.0.1.9', '192.168.0.2'), { network: 'neta', ip: '10.0.1.9', mac: '02:42:0a:00:01:09', vtep: '192.168.0.2' });
  t.is(ep('10.0.1.9', '192.168.0.2', 'AA:BB:CC:DD:EE:FF').mac, 'aa:bb:cc:dd:ee:ff');
  t.throws(() => normalizeEndpoint({ network: 'neta', ip: '10.0.1.300', vtep: '1.2.3.4', id: 't1' }), { code: 'E_INVALID_ENDPOINT', message: /endpoint t1 on network neta: ip "10\.0\.1\.300"/ } as never);
  t.throws(() => normalizeEndpoint({ network: 'neta', ip: '10.0.1.3', vtep: 'host' }), { message: /VTEP "host"/ });
  t.throws(() => normalizeEndpoint({ network: 'neta', ip: '10.0.1.3', vtep: '1.2.3.4', mac: '02:42' }), { message: /MAC "02:42"/ });
  t.throws(() => normalizeEndpoint({ network: '', ip: '10.0.1.3', vtep: '1.2.3.4' }), { message: /network id is missing/ });
});

// ---- naming ----

test('names: stable, short enough for the kernel, recognisably ours', (t) => {
  const host = vethHostName('task1', 'neta');
  t.is(host, vethHostName('task1', 'neta'));
  t.not(host, vethHostName('task1', 'netb'));
  t.not(host, vethHostName('task2', 'neta'));
  t.true(host.length <= MAX_IFNAME && vethPeerName('task1', 'neta').length <= MAX_IFNAME);
  t.true(isOwnedLinkName(host));
  t.false(isOwnedLinkName('br0') || isOwnedLinkName('vxlan0') || isOwnedLinkName('eth0'));
  t.is(sandboxIfname(1), 'eth1');
  t.is(overlayNetnsName('berth-', 'abcdef0123456789'), 'berth-ov-abcdef012345');
  t.true(isOwnedNetnsName('berth-', 'berth-ov-abc'));
  t.false(isOwnedNetnsName('berth-', 'berth-ov-'));
  t.false(isOwnedNetnsName('berth-', 'other-ov-abc'));
  t.false(isOwnedNetnsName('h1-', 'h10-ov-abc'), 'a prefix never claims a longer sibling prefix');
});

// ---- endpoint tables ----

test('refcounts: a twice-announced endpoint survives one withdrawal', (t) => {
  const table = new EndpointTable();
  const e = ep('10.0.1.9', '192.168.0.2');
  t.true(table.add(e));
  t.false(table.add(e), 'a duplicate announcement changes nothing in the kernel');
  t.false(table.remove(e));
  t.deepEqual([...table.tables().neigh], [['10.0.1.9', '02:42:0a:00:01:09']]);
  t.true(table.remove(e));
  t.is(table.size, 0);
  t.false(table.remove(e), 'removing an unknown endpoint is a no-op');
});

test('an address that moved to another node: the newest announcement wins, a late withdrawal of the old one is harmless', (t) => {
  const table = new EndpointTable();
  const old = ep('10.0.1.9', '192.168.0.2');
  const moved = ep('10.0.1.9', '192.168.0.3');
  table.add(old);
  t.true(table.add(moved));
  t.is(table.tables().fdb.get('02:42:0a:00:01:09'), '192.168.0.3');
  t.false(table.remove(old), 'the programmed entry stays on the new node');
  t.is(table.tables().fdb.get('02:42:0a:00:01:09'), '192.168.0.3');
  table.add(old);
  t.is(table.tables().fdb.get('02:42:0a:00:01:09'), '192.168.0.2', 're-announced on the old node: newest wins again');
  t.true(table.remove(old), 'dropping the winner falls back to the remaining announcement');
  t.is(table.tables().fdb.get('02:42:0a:00:01:09'), '192.168.0.3');
  t.true(table.remove(moved));
  t.is(table.tables().fdb.get('02:42:0a:00:01:09'), undefined);
});

test('diffTables: adds, replacements and deletions; empty when equal', (t) => {
  const current = emptyTables();
  current.neigh.set('10.0.1.2', '02:42:0a:00:01:02');
  current.neigh.set('10.0.1.3', '02:42:0a:00:01:03');
  current.fdb.set('02:42:0a:00:01:02', '192.168.0.2');
  current.fdb.set('02:42:0a:00:01:03', '192.168.0.2');
  const table = new EndpointTable();
  table.add(ep('10.0.1.2', '192.168.0.9'));
  table.add(ep('10.0.1.4', '192.168.0.2'));
  const d = diffTables(current, table.tables());
  t.deepEqual(d.neighSet, [['10.0.1.4', '02:42:0a:00:01:04']]);
  t.deepEqual(d.neighDel, ['10.0.1.3']);
  t.deepEqual(d.fdbSet, [
    ['02:42:0a:00:01:02', '192.168.0.9'],
    ['02:42:0a:00:01:04', '192.168.0.2'],
  ]);
  t.deepEqual(d.fdbDel, [['02:42:0a:00:01:03', '192.168.0.2']]);
  t.true(isEmptyDiff(diffTables(table.tables(), table.tables())));
});
