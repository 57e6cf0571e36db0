// Argument validation of the native front: runs without the addon being built.
import test from 'ava';
import { NativeError, openSocketInNetns, tuneMalloc, validateNetnsSocketArgs, type NetnsSocketOptions } from '../../native/index.js';

const NETNS = '/var/run/netns/x';
const BASE: NetnsSocketOptions = { type: 'udp', address: '127.0.0.11', port: 53 };

test('defaults: no SO_REUSEADDR, IPv6-only, backlog 511', (t) => {
  t.deepEqual(validateNetnsSocketArgs(NETNS, BASE), [NETNS, 'udp', '127.0.0.11', 53, false, true, 511]);
});

test('explicit options pass through', (t) => {
  t.deepEqual(
    validateNetnsSocketArgs(NETNS, { type: 'tcp', address: '::', port: 0, reuseAddr: true, ipv6Only: false, backlog: 16 }),
    [NETNS, 'tcp', '::', 0, true, false, 16],
  );
});

for (const address of ['::1', 'fe80::1%eth0', 'fe80::1%2', '0.0.0.0', '10.0.0.1']) {
  test(`accepts address ${address}`, (t) => {
    t.notThrows(() => validateNetnsSocketArgs(NETNS, { ...BASE, address }));
  });
}

const INVALID: Array<[string, string, Partial<Record<keyof NetnsSocketOptions, unknown>>, RegExp]> = [
  ['port above range', NETNS, { port: 65536 }, /port must be an integer in 0\.\.65535, got 65536/],
  ['negative port', NETNS, { port: -1 }, /port must be an integer/],
  ['fractional port', NETNS, { port: 53.5 }, /port must be an integer/],
  ['port as string', NETNS, { port: '53' }, /port must be an integer/],
  ['unknown type', NETNS, { type: 'sctp' }, /type must be 'udp' or 'tcp', got "sctp"/],
  ['hostname', NETNS, { address: 'localhost' }, /address must be an IPv4 or IPv6 literal, got "localhost"/],
  ['short IPv4', NETNS, { address: '1.2.3' }, /address must be an IPv4 or IPv6 literal/],
  ['zone on IPv4', NETNS, { address: '10.0.0.1%eth0' }, /address must be an IPv4 or IPv6 literal/],
  ['empty zone', NETNS, { address: 'fe80::1%' }, /address must be an IPv4 or IPv6 literal/],
  ['negative backlog', NETNS, { backlog: -1 }, /backlog must be a non-negative integer/],
  ['empty netns path', '', {}, /netnsPath must be a non-empty path/],
  ['NUL in netns path', '/var/run/netns/a\0b', {}, /netnsPath must be a non-empty path/],
];

for (const [what, netnsPath, patch, message] of INVALID) {
  test(`rejects ${what}`, (t) => {
    const opts = { ...BASE, ...patch } as NetnsSocketOptions;
    const err = t.throws(() => validateNetnsSocketArgs(netnsPath, opts), { instanceOf: NativeError });
    t.is(err?.code, 'E_INVALID_ARGUMENT');
    t.regex(err?.message ?? '', message);
    t.true(err?.message.startsWith('openSocketInNetns('));
  });
}

test('error messages name the namespace and the IPv6 endpoint in brackets', (t) => {
  const err = t.throws(() => openSocketInNetns(NETNS, { type: 'tcp', address: '::1', port: 99999 }), { instanceOf: NativeError });
  t.true(err?.message.startsWith(`openSocketInNetns(${NETNS}, tcp [::1]:99999): `));
});

test('tuneMalloc refuses a threshold or arena count that is not a positive integer, before the addon', (t) => {
  for (const [threshold, arenas] of [[0, 2], [131072, 0], [1.5, 2], [131072, -1]] as const) {
    const err = t.throws(() => tuneMalloc(threshold, arenas), { instanceOf: NativeError });
    t.is(err?.code, 'E_INVALID_ARGUMENT');
  }
});
