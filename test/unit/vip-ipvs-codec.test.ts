// The IPVS backend's pure parts: the generic-netlink codec against byte layouts computed by hand
// from ip_vs.h / genetlink.h, reply and error decoding, and spec validation, mark assignment
// and the nftables table it renders. No kernel needed.
import test from 'ava';
import { NetdValidationError } from '../../netd/errors.js';
import {
  IPVS_CMD,
  IPVS_CMD_ATTR,
  IPVS_DEST_ATTR,
  IPVS_SVC_ATTR,
  NLMSG_DONE,
  attr,
  delDestRequest,
  delServiceRequest,
  dumpDestsRequest,
  dumpServicesRequest,
  encodeReply,
  failures,
  getFamilyRequest,
  newDestRequest,
  newServiceRequest,
  parseDests,
  parseFamilyId,
  parseServices,
  setConfigRequest,
  setDestRequest,
  splitMessages,
} from '../../netd/vip/ipvs-codec.js';
import { MARK_FIRST, assignMarks, keyHash, normalizeSpec, parseKeyMarks, renderNftTable } from '../../netd/vip/ipvs.js';
import type { LoadBalancerSpec } from '../../netd/vip/types.js';

const FAMILY = 0x22;

/** Hex with spaces and newlines ignored, so layouts can be written field by field. */
function hex(s: string): string {
  return s.replace(/\s+/g, '');
}

test('CTRL_CMD_GETFAMILY "IPVS": nlmsghdr + genlmsghdr + FAMILY_NAME', (t) => {
  t.is(
    getFamilyRequest(7).toString('hex'),
    hex(`
      20000000 1000 0500 07000000 00000000
      03 02 0000
      0900 0200 4950565300 000000`),
  );
});

test('NEW_SERVICE for a fwmark: AF, FWMARK, SCHED_NAME, FLAGS (8 bytes), TIMEOUT, NETMASK big-endian', (t) => {
  t.is(
    newServiceRequest(FAMILY, 1, 0x1000).toString('hex'),
    hex(`
      4c000000 2200 0500 01000000 00000000
      01 01 0000
      3800 0100
        0600 0100 0200 0000
        0800 0500 00100000
        0800 0600 77727200
        0c00 0700 00000000 00000000
        0800 0800 00000000
        0800 0900 ffffffff`),
  );
});

test('DEL_SERVICE names the service by AF + FWMARK only', (t) => {
  t.is(
    delServiceRequest(FAMILY, 3, 0x1001).toString('hex'),
    hex(`
      28000000 2200 0500 03000000 00000000
      03 01 0000
      1400 0100 0600 0100 0200 0000 0800 0500 01100000`),
  );
});

test('NEW_DEST / SET_DEST: 16-byte ADDR, PORT 0 (big-endian), masquerade, weight, thresholds, ADDR_FAMILY', (t) => {
  const body = (cmd: string, seq: string) =>
    hex(`
      70000000 2200 0500 ${seq} 00000000
      ${cmd} 01 0000
      1400 0100 0600 0100 0200 0000 0800 0500 00100000
      4800 0200
        1400 0100 0a000005 00000000 00000000 00000000
        0600 0200 0000 0000
        0800 0300 00000000
        0800 0400 03000000
        0800 0500 00000000
        0800 0600 00000000
        0600 0b00 0200 0000`);
  t.is(newDestRequest(FAMILY, 2, 0x1000, 0x0a000005, 3).toString('hex'), body('05', '02000000'));
  t.is(setDestRequest(FAMILY, 4, 0x1000, 0x0a000005, 3).toString('hex'), body('06', '04000000'));
});

test('DEL_DEST carries only ADDR and PORT in the destination', (t) => {
  t.is(
    delDestRequest(FAMILY, 5, 0x1000, 0x0a000005).toString('hex'),
    hex(`
      48000000 2200 0500 05000000 00000000
      07 01 0000
      1400 0100 0600 0100 0200 0000 0800 0500 00100000
      2000 0200
        1400 0100 0a000005 00000000 00000000 00000000
        0600 0200 0000 0000`),
  );
});

test('dumps ask with NLM_F_DUMP; GET_DEST names its service', (t) => {
  t.is(dumpServicesRequest(FAMILY, 9).toString('hex'), hex('14000000 2200 0103 09000000 00000000 04 01 0000'));
  t.is(
    dumpDestsRequest(FAMILY, 10, 0x1000).toString('hex'),
    hex('28000000 2200 0103 0a000000 00000000 08 01 0000 1400 0100 0600 0100 0200 0000 0800 0500 00100000'),
  );
});

test('SET_CONFIG: the three timeouts as top-level u32 attributes', (t) => {
  t.is(
    setConfigRequest(FAMILY, 11, { tcp: 86_400, tcpFin: 120, udp: 300 }).toString('hex'),
    hex(`
      2c000000 2200 0500 0b000000 00000000
      0c 01 0000
      0800 0400 80510100
      0800 0500 78000000
      0800 0600 2c010000`),
  );
});

test('parseFamilyId reads CTRL_ATTR_FAMILY_ID from a NEWFAMILY reply; the trailing ack is not a failure', (t) => {
  const reply = Buffer.from(
    hex(`
      28000000 1000 0000 07000000 00000000
      01 02 0000
      0600 0100 2200 0000
      0900 0200 4950565300 000000`),
    'hex',
  );
  const ack = Buffer.from(hex('24000000 0200 0001 07000000 00000000 00000000 20000000 1000 0500 07000000 00000000'), 'hex');
  const messages = splitMessages([Buffer.concat([reply, ack])]);
  t.is(messages.length, 2);
  t.is(parseFamilyId(messages), FAMILY);
  t.deepEqual(failures(messages), []);
});

test('failures: a negative errno with its extended-ack message, matched by sequence number', (t) => {
  const msg = Buffer.from('no such family\0');
  const tlv = attr.nla(1, msg);
  const len = 16 + 4 + 16 + tlv.length;
  const err = Buffer.alloc(len);
  err.writeUInt32LE(len, 0);
  err.writeUInt16LE(2, 4);
  err.writeUInt16LE(0x0300, 6); // NLM_F_CAPPED | NLM_F_ACK_TLVS
  err.writeUInt32LE(42, 8);
  err.writeInt32LE(-2, 16);
  err.writeUInt32LE(32, 20); // echoed request header
  tlv.copy(err, 36);
  const [f, ...rest] = failures(splitMessages([err]));
  t.deepEqual(rest, []);
  t.deepEqual(f, { seq: 42, errno: 2, errnoName: 'ENOENT', message: 'no such family' });
  t.is(parseFamilyId(splitMessages([err])), undefined);
});

test('a service dump decodes fwmark services and leaves address services without a mark', (t) => {
  const { nla, u16, u32, be16, cstr, ipvsAddr } = attr;
  const fwmarkSvc = nla(IPVS_CMD_ATTR.SERVICE, Buffer.concat([nla(IPVS_SVC_ATTR.AF, u16(2)), nla(IPVS_SVC_ATTR.FWMARK, u32(0x1003)), nla(IPVS_SVC_ATTR.SCHED_NAME, cstr('wrr'))]));
  const addrSvc = nla(
    IPVS_CMD_ATTR.SERVICE,
    Buffer.concat([
      nla(IPVS_SVC_ATTR.AF, u16(2)),
      nla(IPVS_SVC_ATTR.PROTOCOL, u16(6)),
      nla(IPVS_SVC_ATTR.ADDR, ipvsAddr(0x0afa0001)),
      nla(IPVS_SVC_ATTR.PORT, be16(80)),
      nla(IPVS_SVC_ATTR.SCHED_NAME, cstr('rr')),
    ]),
  );
  const done = Buffer.from(hex('14000000 0300 0200 09000000 00000000 00000000'), 'hex');
  const datagram = Buffer.concat([encodeReply(FAMILY, 9, IPVS_CMD.NEW_SERVICE, [fwmarkSvc]), encodeReply(FAMILY, 9, IPVS_CMD.NEW_SERVICE, [addrSvc])]);
  const messages = splitMessages([datagram, done]);
  t.is(messages.at(-1)!.type, NLMSG_DONE);
  t.deepEqual(parseServices(messages, FAMILY), [
    { af: 2, fwmark: 0x1003, scheduler: 'wrr' },
    { af: 2, fwmark: undefined, scheduler: 'rr' },
  ]);
});

test('a destination dump decodes address, port, weight and connection counts; nested stats are skipped', (t) => {
  const { nla, u16, u32, be16, ipvsAddr } = attr;
  const dest = (ip: number, weight: number, active: number, inactive: number) =>
    nla(
      IPVS_CMD_ATTR.DEST,
      Buffer.concat([
        nla(IPVS_DEST_ATTR.ADDR, ipvsAddr(ip)),
        nla(IPVS_DEST_ATTR.PORT, be16(0)),
        nla(IPVS_DEST_ATTR.FWD_METHOD, u32(0)),
        nla(IPVS_DEST_ATTR.WEIGHT, u32(weight)),
        nla(IPVS_DEST_ATTR.ACTIVE_CONNS, u32(active)),
        nla(IPVS_DEST_ATTR.INACT_CONNS, u32(inactive)),
        nla(10, Buffer.concat([nla(1, u32(99)), nla(2, u32(1000))])),
        nla(IPVS_DEST_ATTR.ADDR_FAMILY, u16(2)),
      ]),
    );
  const datagram = Buffer.concat([encodeReply(FAMILY, 3, IPVS_CMD.NEW_DEST, [dest(0x0a000005, 1, 2, 7)]), encodeReply(FAMILY, 3, IPVS_CMD.NEW_DEST, [dest(0x0a000006, 0, 1, 0)])]);
  t.deepEqual(parseDests(splitMessages([datagram]), FAMILY), [
    { addr: 0x0a000005, port: 0, weight: 1, fwdMethod: 0, activeConns: 2, inactiveConns: 7 },
    { addr: 0x0a000006, port: 0, weight: 0, fwdMethod: 0, activeConns: 1, inactiveConns: 0 },
  ]);
  // Messages of another family (or a service reply) are not destinations.
  t.deepEqual(parseDests(splitMessages([datagram]), FAMILY + 1), []);
});

test('splitMessages stops at a truncated message instead of reading past the datagram', (t) => {
  const m = newServiceRequest(FAMILY, 1, 0x1000);
  t.is(splitMessages([Buffer.concat([m, m.subarray(0, 30)])]).length, 1);
});

// ---- the backend's pure parts ----

const SPEC: LoadBalancerSpec = {
  netnsPath: '/var/run/netns/lb',
  sourceAddress: '10.0.9.2',
  subnet: '10.0.9.0/24',
  services: [
    { key: 'svc-a', vip: '10.0.9.100', ports: [], backends: [{ ip: '10.0.9.10', weight: 1 }, { ip: '10.0.9.11', weight: 0 }] },
    { key: 'svc-b/ingress', ports: [{ protocol: 'tcp', port: 8080 }, { protocol: 'udp', port: 5353 }], backends: [{ ip: '10.0.9.12', weight: 2 }] },
  ],
};

test('normalizeSpec accepts a good spec and rejects each kind of bad one with NetdValidationError', (t) => {
  const n = normalizeSpec(SPEC);
  t.is(n.services.length, 2);
  t.is(n.subnet, '10.0.9.0/24');
  const bad: Array<[string, (s: LoadBalancerSpec) => LoadBalancerSpec]> = [
    ['source', (s) => ({ ...s, sourceAddress: '10.0.9.300' })],
    ['subnet', (s) => ({ ...s, subnet: '10.0.9.0' })],
    ['vip prefix', (s) => ({ ...s, services: [{ ...s.services[0]!, vip: '10.0.9.100/24' }] })],
    ['duplicate key', (s) => ({ ...s, services: [s.services[0]!, { ...s.services[1]!, key: 'svc-a' }] })],
    ['duplicate vip', (s) => ({ ...s, services: [s.services[0]!, { ...s.services[1]!, vip: '10.0.9.100' }] })],
    ['port 0', (s) => ({ ...s, services: [{ ...s.services[1]!, ports: [{ protocol: 'tcp', port: 0 }] }] })],
    ['port 65536', (s) => ({ ...s, services: [{ ...s.services[1]!, ports: [{ protocol: 'tcp', port: 65536 }] }] })],
    ['protocol', (s) => ({ ...s, services: [{ ...s.services[1]!, ports: [{ protocol: 'sctp' as 'tcp', port: 80 }] }] })],
    ['port twice', (s) => ({ ...s, services: [s.services[1]!, { ...s.services[0]!, ports: [{ protocol: 'tcp', port: 8080 }] }] })],
    ['weight -1', (s) => ({ ...s, services: [{ ...s.services[0]!, backends: [{ ip: '10.0.9.10', weight: -1 }] }] })],
    ['weight 1.5', (s) => ({ ...s, services: [{ ...s.services[0]!, backends: [{ ip: '10.0.9.10', weight: 1.5 }] }] })],
    ['weight 65536', (s) => ({ ...s, services: [{ ...s.services[0]!, backends: [{ ip: '10.0.9.10', weight: 65536 }] }] })],
    ['backend outside subnet', (s) => ({ ...s, services: [{ ...s.services[0]!, backends: [{ ip: '10.0.8.10', weight: 1 }] }] })],
    ['backend twice', (s) => ({ ...s, services: [{ ...s.services[0]!, backends: [{ ip: '10.0.9.10', weight: 1 }, { ip: '10.0.9.10', weight: 2 }] }] })],
    ['empty key', (s) => ({ ...s, services: [{ ...s.services[0]!, key: '' }] })],
    ['no netns', (s) => ({ ...s, netnsPath: '' })],
  ];
  for (const [name, mutate] of bad) t.throws(() => normalizeSpec(mutate(SPEC)), { instanceOf: NetdValidationError }, name);
});

test('assignMarks keeps existing marks, fills the lowest free ones from 0x1000 and skips marks still taken', (t) => {
  const m = assignMarks(['a', 'b', 'c', 'd'], new Map([['b', MARK_FIRST + 1]]), new Set([MARK_FIRST]));
  t.deepEqual([...m], [['b', 0x1001], ['a', 0x1002], ['c', 0x1003], ['d', 0x1004]]);
});

test('the nftables table: keys chain, port then VIP marks, SNAT for berth marks toward the subnet; keys read back', (t) => {
  const n = normalizeSpec(SPEC);
  const script = renderNftTable(n, new Map([['svc-a', 0x1000], ['svc-b/ingress', 0x1001]]));
  t.true(script.startsWith('table ip berth-vip {}\ndelete table ip berth-vip\ntable ip berth-vip {\n'));
  t.true(script.includes(`meta mark 0x00001000 comment "berth-key:${keyHash('svc-a')}"`));
  const pre = script.slice(script.indexOf('chain prerouting'), script.indexOf('chain output'));
  t.true(pre.indexOf('fib daddr type local tcp dport 8080 meta mark set 0x00001001') < pre.indexOf('ip daddr 10.0.9.100 meta mark set 0x00001000'));
  t.true(pre.includes('fib daddr type local udp dport 5353 meta mark set 0x00001001'));
  t.true(script.includes('meta mark & 0xfffff000 == 0x00001000 ip daddr 10.0.9.0/24 snat to 10.0.9.2'));
  // What `nft list chain ip berth-vip keys` prints for it (tabs, its own layout).
  const listing = `table ip berth-vip {\n\tchain keys {\n\t\tmeta mark 0x00001000 comment "berth-key:${keyHash('svc-a')}"\n\t\tmeta mark 0x00001001 comment "berth-key:${keyHash('svc-b/ingress')}"\n\t\tmeta mark 0x00000100 comment "berth-key:0000000000000000"\n\t}\n}\n`;
  t.deepEqual(
    [...parseKeyMarks(listing)],
    [
      [keyHash('svc-a'), 0x1000],
      [keyHash('svc-b/ingress'), 0x1001],
    ],
  );
});
