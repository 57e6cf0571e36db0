// The nf_tables netlink codec against bytes nft and the kernel produced. The fixtures were
// captured on kernel 6.18 with nftables 1.0.6: requests from `nft --debug=mnl -f -` (message
// body after the 16-byte nlmsghdr), the dump from the kernel's GETRULE answer for rules nft
// created. nft's rule for the same text and ours must be byte for byte the same request.
import test from 'ava';
import {
  attrList,
  decodeAck,
  decodeRule,
  decodeTableObject,
  encodeExpressions,
  getRulesRequest,
  ipv4Bytes,
  markBytes,
  NftBatch,
  portBytes,
  splitMessages,
  type NftExpr,
} from '../../netd/vip/nfnetlink.js';
import { planState, resolveTimeouts, serviceRuleExprs } from '../../netd/vip/nftables.js';

/** `replace rule ip berth-vip b_1 handle 4 ip daddr 10.0.1.100 ct mark set numgen inc mod 3 offset 0x80001000` */
const NFT_REPLACE_RULE =
  '020000000e00010062657274682d76697000000008000200625f31000c0003000000000000000004b8000480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400000000042c00018008000100636d700020000280080001000000000108000200000000000c000380080001000a000164340001800b0001006e756d67656e00002400028008000100000000010800020000000003080003000000000008000400800010002000018007000100637400001400028008000200000000030800040000000001';
/** `delete element ip berth-vip slots { 0x80001000 }` */
const NFT_DELETE_ELEMENT = '020000000e00010062657274682d7669700000000a000200736c6f747300000014000380100001800c0001800800010000100080';
/** `add element ip berth-vip slots { 0x80001001 : 10.0.1.11 }` (nft names the set by id 2 too) */
const NFT_ADD_ELEMENT =
  '020000000e00010062657274682d7669700000000a000200736c6f74730000000800040000000002200003801c0001800c00018008000100011000800c000280080001000a00010b';
/** `add map ip berth-vip slots2 { type mark : ipv4_addr; }` (set id 1) */
const NFT_NEW_MAP =
  '020000000e00010062657274682d7669700000000b000200736c6f74733200000800030000000008080004000000001308000500000000040800060000000007080007000000000408000a000000000116000d000004010000000104020000000604000000000000';
/** The kernel's dump of chain b_1 after the replace above: handle 4 (the VIP rule, mod 3) and
 *  handle 5, `meta l4proto tcp th dport 8080 ct mark set numgen inc mod 4 offset 0x80001000`. */
const KERNEL_DUMP = [
  '020000070e00010062657274682d76697000000008000200625f31000c0003000000000000000004b8000400340001000c0001007061796c6f6164002400020008000100000000010800020000000001080003000000001008000400000000042c00010008000100636d700020000200080001000000000108000200000000000c000300080001000a000164340001000b0001006e756d67656e00002400020008000100000000010800020000000003080003000000000008000400800010002000010007000100637400001400020008000400000000010800020000000003',
  '020000070e00010062657274682d76697000000008000200625f31000c00030000000000000000050c00060000000000000000040801040024000100090001006d6574610000000014000200080002000000001008000100000000012c00010008000100636d700020000200080001000000000108000200000000000c0003000500010006000000340001000c0001007061796c6f6164002400020008000100000000010800020000000002080003000000000208000400000000022c00010008000100636d700020000200080001000000000108000200000000000c000300060001001f900000340001000b0001006e756d67656e00002400020008000100000000010800020000000004080003000000000008000400800010002000010007000100637400001400020008000400000000010800020000000003',
];

const NEWRULE = (10 << 8) | 6;

/** A batch's messages after BEGIN, before END, as [type, flags, seq, body hex]. */
function inner(batch: Buffer): Array<[number, number, number, string]> {
  const all = splitMessages([batch]).map((m): [number, number, number, string] => [m.type, m.flags, m.seq, m.payload.toString('hex')]);
  return all.slice(1, -1);
}

function nlmsg(type: number, flags: number, seq: number, bodyHex: string): Buffer {
  const body = Buffer.from(bodyHex, 'hex');
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

const VIP_RULE_MOD3: NftExpr[] = [
  { kind: 'payload', base: 'network', offset: 16, len: 4 },
  { kind: 'cmp-eq', data: ipv4Bytes('10.0.1.100') },
  { kind: 'numgen-inc', modulus: 3, offset: 0x8000_1000 },
  { kind: 'ct-mark-set' },
];

test('batch: BEGIN and END carry the nftables subsystem, every message in between asks for an ack', (t) => {
  const b = new NftBatch(41);
  b.setElements('delete', 'berth-vip', 'slots', [{ key: markBytes(0x8000_1000) }]);
  const buf = b.finish();
  const msgs = splitMessages([buf]);
  t.deepEqual(
    msgs.map((m) => [m.type, m.seq, m.payload.toString('hex')]),
    [
      [16, 41, '0000000a'],
      [(10 << 8) | 14, 42, NFT_DELETE_ELEMENT],
      [17, 43, '0000000a'],
    ],
  );
  t.is(msgs[1]!.flags & 0x4, 0x4, 'NLM_F_ACK');
  t.is(msgs[0]!.flags & 0x4, 0, 'BEGIN is never acked by the kernel: no ack asked');
  t.is(b.described.get(42), 'delete 1 element(s) of set berth-vip slots');
});

test('set elements: the same bytes as nft (ct mark keys in host order, addresses in network order)', (t) => {
  const b = new NftBatch(0);
  b.markToIpv4('berth-vip', 'slots', [[0x8000_1001, 0x0a00_010b]], 2);
  b.setElements('add', 'berth-vip', 'slots', [{ key: markBytes(0x8000_1001), data: ipv4Bytes('10.0.1.11') }]);
  const [fast, generic] = inner(b.finish());
  t.is(fast![3], NFT_ADD_ELEMENT);
  t.is(fast![1] & 0x400, 0x400, 'NLM_F_CREATE');
  // The generic form names the set by name only (it already exists): nft's bytes minus the id.
  t.is(generic![3], NFT_ADD_ELEMENT.replace('0800040000000002', ''));
});

test('map: NEWSET for `type mark : ipv4_addr` is nft 1.0.6 attribute for attribute (nft list reads its userdata)', (t) => {
  const b = new NftBatch(0);
  t.is(b.markToIpv4Map('berth-vip', 'slots2'), 1);
  t.is(inner(b.finish())[0]![3], NFT_NEW_MAP);
});

test('rule: a replace by handle is the request nft sends for the same text', (t) => {
  const b = new NftBatch(0);
  b.replaceRule('berth-vip', 'b_1', 4n, VIP_RULE_MOD3);
  const [[type, flags, , body]] = inner(b.finish()) as [[number, number, number, string]];
  t.is(type, NEWRULE);
  t.is(flags & 0x100, 0x100, 'NLM_F_REPLACE');
  t.is(body, NFT_REPLACE_RULE);
});

test('rule: the kernel dump of nft-made rules decodes to what serviceRuleExprs builds', (t) => {
  const rules = KERNEL_DUMP.map((hex) => decodeRule(splitMessages([nlmsg(NEWRULE, 0x2, 7, hex)])[0]!)!);
  t.deepEqual(
    rules.map((r) => [r.table, r.chain, r.handle]),
    [
      ['berth-vip', 'b_1', 4n],
      ['berth-vip', 'b_1', 5n],
    ],
  );
  t.deepEqual(rules[0]!.exprs, VIP_RULE_MOD3.map((e) => (e.kind === 'cmp-eq' ? { ...e, data: Uint8Array.from(e.data) } : e)));
  // The same rules as the backend plans them: service number 1 (offset 0x80001000).
  const st = planState(
    {
      netnsPath: '/x',
      sourceAddress: '10.0.1.2',
      subnet: '10.0.1.0/24',
      services: [{ key: 'web', vip: '10.0.1.100', ports: [{ protocol: 'tcp', port: 8080 }], backends: ['10', '11', '12', '13'].map((h) => ({ ip: `10.0.1.${h}`, weight: 1 })) }],
    },
    resolveTimeouts(),
  );
  const planned = serviceRuleExprs(st.services.get('web')!);
  t.deepEqual(rules[1]!.exprs, planned[1]);
  t.deepEqual(rules[0]!.exprs.slice(0, 2), planned[0]!.slice(0, 2));
  // The dump differs from the request only in form (no NLA_F_NESTED, ct's SREG before KEY):
  // both decode the same.
  const ours = encodeExpressions(planned[1]!);
  t.notDeepEqual(ours, rules[1]!.expressions);
  t.deepEqual(decodeRule(splitMessages([nlmsg(NEWRULE, 0, 1, `02000000${'0e00010062657274682d76697000000008000200625f31000c0003000000000000000005'}${ours.toString('hex')}`)])[0]!)!.exprs, rules[1]!.exprs);
});

test('expressions: ports and addresses in network order, marks in host order; a goto verdict', (t) => {
  t.deepEqual([...portBytes(8080)], [0x1f, 0x90]);
  t.deepEqual([...ipv4Bytes('10.0.1.100')], [10, 0, 1, 100]);
  t.deepEqual([...markBytes(0x8000_1000)], [0x00, 0x10, 0x00, 0x80]);
  const e = encodeExpressions([{ kind: 'goto', chain: 'lb' }]);
  // NFTA_RULE_EXPRESSIONS > elem > name "immediate", data > dreg 0, data > verdict > code -4, chain "lb"
  t.is(e.toString('hex'), ['3c000480', '38000180', '0e000100696d6d656469617465000000', '24000280', '0800010000000000', '18000280', '14000280', '08000100fffffffc', '070002006c620000'].join(''));
});

test('dump request: GETRULE with NLM_F_DUMP, table and chain', (t) => {
  const [m] = splitMessages([getRulesRequest(9, 'berth-vip', 'b_7')]);
  t.is(m!.type, (10 << 8) | 7);
  t.is(m!.flags, 0x301);
  t.deepEqual(
    attrList(m!.payload.subarray(4)).map(([type, v]) => [type, v.toString('utf8')]),
    [
      [1, 'berth-vip\0'],
      [2, 'b_7\0'],
    ],
  );
});

test('acks: errors with their extended-ack text; DONE ends a dump', (t) => {
  const err = Buffer.alloc(4 + 16 + 12);
  err.writeInt32LE(-2, 0);
  err.writeUInt16LE(9, 20);
  err.writeUInt16LE(1, 22); // NLMSGERR_ATTR_MSG
  err.write('nope\0', 24);
  const msgs = splitMessages([Buffer.concat([nlmsg(2, 0x200, 5, err.toString('hex')), nlmsg(2, 0, 6, '00000000' + '00'.repeat(16)), nlmsg(3, 2, 7, '00000000')])]);
  t.deepEqual(msgs.map(decodeAck), [
    { seq: 5, error: -2, message: 'nope' },
    { seq: 6, error: 0, message: undefined },
    { seq: 7, error: 0, message: undefined },
  ]);
  t.is(decodeAck({ type: NEWRULE, flags: 0, seq: 1, payload: Buffer.alloc(4) }), null);
});

test('table objects: chains, sets (anonymous and maps told apart) and objects from dumps', (t) => {
  const body = (attrs: Array<[number, Buffer]>): string =>
    '02000000' +
    attrs
      .map(([type, v]) => {
        const h = Buffer.alloc(4);
        h.writeUInt16LE(4 + v.length, 0);
        h.writeUInt16LE(type, 2);
        return Buffer.concat([h, v, Buffer.alloc((4 - (v.length % 4)) % 4)]).toString('hex');
      })
      .join('');
  const be32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
  const T = Buffer.from('berth-vip\0');
  const msgs = splitMessages([
    Buffer.concat([
      nlmsg((10 << 8) | 3, 2, 1, body([[1, T], [3, Buffer.from('b_7\0')]])),
      nlmsg((10 << 8) | 9, 2, 1, body([[1, T], [2, Buffer.from('slots\0')], [3, be32(8)]])),
      nlmsg((10 << 8) | 9, 2, 1, body([[1, T], [2, Buffer.from('__set0\0')], [3, be32(3)]])),
      nlmsg((10 << 8) | 18, 2, 1, body([[1, T], [2, Buffer.from('lb-tcp\0')], [3, be32(7)]])),
    ]),
  ]);
  t.deepEqual(msgs.map(decodeTableObject), [
    { kind: 'chain', table: 'berth-vip', name: 'b_7' },
    { kind: 'set', table: 'berth-vip', name: 'slots', anonymous: false, map: true },
    { kind: 'set', table: 'berth-vip', name: '__set0', anonymous: true, map: false },
    { kind: 'object', table: 'berth-vip', name: 'lb-tcp', type: 7 },
  ]);
});
