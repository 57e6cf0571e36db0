// Gossip wire codecs without sockets: memberlist's AES-GCM keyring, the manager-key ordering
// (gossipKeys), and NetworkDB's protobuf messages checked against hand-encoded bytes from the
// field numbers in docs/research/networkdb-gossip-facts.md §2, §4, §5.
import test from 'ava';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { gossipKeys, type NetworkKey } from '../../netd/gossip/index.js';
import { GossipError, Keyring } from '../../netd/gossip/memberlist.js';
import {
  EventType,
  GossipDecodeError,
  MessageType,
  TableEventType,
  bulkSync,
  bulkSyncParts,
  compound,
  decodeBulkSync,
  decodeCompound,
  decodeGossip,
  decodeNetworkEvent,
  decodeNodeEvent,
  decodePeerRecord,
  decodePushPull,
  decodeTableEvent,
  gossip,
  networkEvent,
  peerRecord,
  pushPull,
  tableEvent,
  tableEventsCompound,
  type TableEvent,
} from '../../netd/gossip/messages.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const str = (s: string) => Buffer.from(s).toString('hex');
const key = (byte: number, len = 16) => Buffer.alloc(len, byte);

function throwsCode(t: import('ava').ExecutionContext, fn: () => unknown, code: GossipError['code']): void {
  const err = t.throws(fn);
  t.true(err instanceof GossipError, `${err?.name}: ${err?.message}`);
  t.is((err as GossipError).code, code);
}

// ---- Keyring ----

test('Keyring: encrypt/decrypt round trip, without and with AAD, for every AES key size', (t) => {
  for (const len of [16, 24, 32]) {
    const ring = new Keyring([key(7, len)]);
    const plain = Buffer.from('a memberlist message');
    t.deepEqual(ring.decrypt(ring.encrypt(plain)), plain);
    const aad = h('0a 00000031');
    t.deepEqual(ring.decrypt(ring.encrypt(plain, aad), aad), plain);
    t.deepEqual(ring.decrypt(ring.encrypt(Buffer.alloc(0))), Buffer.alloc(0));
  }
});

test('Keyring: layout is [1][12-byte nonce][ciphertext][16-byte tag], AES-GCM with the primary key', (t) => {
  const primary = key(1);
  const ring = new Keyring([primary, key(2)]);
  const plain = Buffer.from('hello gossip');
  const out = ring.encrypt(plain);
  t.is(out.length, 1 + 12 + plain.length + 16);
  t.is(out[0], 1);
  // Decrypt independently of Keyring, with the primary key and no AAD.
  const d = createDecipheriv('aes-128-gcm', primary, out.subarray(1, 13));
  d.setAuthTag(out.subarray(out.length - 16));
  t.deepEqual(Buffer.concat([d.update(out.subarray(13, out.length - 16)), d.final()]), plain);
  // Nonces are random: two encryptions differ.
  t.not(hex(ring.encrypt(plain)), hex(out));
});

test('Keyring: AAD binds the stream header (changed or missing header fails)', (t) => {
  const ring = new Keyring([key(3)]);
  const header = h('0a 00000020');
  const sealed = ring.encrypt(Buffer.from('push-pull state'), header);
  throwsCode(t, () => ring.decrypt(sealed, h('0a 00000021')), 'E_GOSSIP_CRYPTO');
  throwsCode(t, () => ring.decrypt(sealed), 'E_GOSSIP_CRYPTO');
  // And a packet sealed without AAD does not open with one.
  throwsCode(t, () => ring.decrypt(ring.encrypt(Buffer.from('x')), header), 'E_GOSSIP_CRYPTO');
});

test('Keyring: a secondary key decrypts; wrong keys and tampering fail with E_GOSSIP_CRYPTO', (t) => {
  const sender = new Keyring([key(9)]);
  const receiver = new Keyring([key(8), key(9), key(10)]);
  const sealed = sender.encrypt(Buffer.from('from a node on an older primary'));
  t.is(receiver.decrypt(sealed).toString(), 'from a node on an older primary');
  throwsCode(t, () => new Keyring([key(1), key(2)]).decrypt(sealed), 'E_GOSSIP_CRYPTO');
  const tampered = Buffer.from(sealed);
  tampered[20]! ^= 1;
  throwsCode(t, () => receiver.decrypt(tampered), 'E_GOSSIP_CRYPTO');
  throwsCode(t, () => receiver.decrypt(sealed.subarray(0, 28)), 'E_GOSSIP_CRYPTO');
  const v2 = Buffer.from(sealed);
  v2[0] = 2;
  throwsCode(t, () => receiver.decrypt(v2), 'E_GOSSIP_CRYPTO');
});

test('Keyring: version 0 (PKCS#7-padded) payloads decrypt', (t) => {
  // memberlist's version 0: plaintext padded to the AES block size before GCM.
  const k = key(4);
  const plain = Buffer.from('abc');
  const padded = Buffer.concat([plain, Buffer.alloc(13, 13)]);
  const nonce = Buffer.alloc(12, 5);
  const c = createCipheriv('aes-128-gcm', k, nonce);
  const body = Buffer.concat([c.update(padded), c.final()]);
  const sealed = Buffer.concat([Buffer.from([0]), nonce, body, c.getAuthTag()]);
  t.deepEqual(new Keyring([k]).decrypt(sealed), plain);
});

test('Keyring: bad key sizes and an empty keyring are rejected', (t) => {
  for (const len of [0, 8, 15, 17, 31, 33, 64]) throwsCode(t, () => new Keyring([Buffer.alloc(len)]), 'E_GOSSIP_CRYPTO');
  throwsCode(t, () => new Keyring([key(1), Buffer.alloc(20)]), 'E_GOSSIP_CRYPTO');
  throwsCode(t, () => new Keyring([]), 'E_GOSSIP_CRYPTO');
});

// ---- gossipKeys ----

test('gossipKeys: only networking:gossip, sorted by lamport time, first two swapped', (t) => {
  const k = (subsystem: string, lamportTime: bigint, byte: number): NetworkKey => ({ subsystem, lamportTime, key: key(byte) });
  const keys = [k('networking:gossip', 300n, 3), k('networking:ipsec', 100n, 0xa1), k('networking:gossip', 100n, 1), k('networking:ipsec', 50n, 0xa0), k('networking:gossip', 200n, 2)];
  const before = keys.map((x) => x.lamportTime);
  // [middle, oldest, newest]: the second-oldest is primary.
  t.deepEqual(gossipKeys(keys), [key(2), key(1), key(3)]);
  t.deepEqual(
    keys.map((x) => x.lamportTime),
    before,
    'the input is not reordered',
  );
  // Lamport times compare as numbers, not strings, and above 2^53.
  const big = [k('networking:gossip', 10n, 10), k('networking:gossip', 9n, 9), k('networking:gossip', 2n ** 60n, 11)];
  t.deepEqual(gossipKeys(big), [key(10), key(9), key(11)]);
  t.deepEqual(gossipKeys([k('networking:gossip', 5n, 5)]), [key(5)]);
  t.deepEqual(gossipKeys([k('networking:ipsec', 5n, 5)]), []);
  t.deepEqual(gossipKeys([k('networking:gossip', 7n, 7), k('networking:gossip', 6n, 6)]), [key(7), key(6)]);
});

// ---- messages: hand-encoded bytes ----

test('PeerRecord field numbers: endpoint_ip=1, endpoint_mac=2, tunnel_endpoint_ip=3; empty fields left out', (t) => {
  t.is(hex(peerRecord({ endpointIp: '10.0.1.5/24', endpointMac: '', tunnelEndpointIp: '' })), `0a0b${str('10.0.1.5/24')}`);
  const full = `0a0b${str('10.0.1.5/24')} 1211${str('02:42:0a:00:01:05')} 1a0b${str('192.168.1.2')}`;
  t.is(hex(peerRecord({ endpointIp: '10.0.1.5/24', endpointMac: '02:42:0a:00:01:05', tunnelEndpointIp: '192.168.1.2' })), full.replace(/\s+/g, ''));
  t.deepEqual(decodePeerRecord(h(full)), { endpointIp: '10.0.1.5/24', endpointMac: '02:42:0a:00:01:05', tunnelEndpointIp: '192.168.1.2' });
  t.deepEqual(decodePeerRecord(h(`1a0b${str('192.168.1.2')}`)), { endpointIp: '', endpointMac: '', tunnelEndpointIp: '192.168.1.2' });
});

test('TableEvent field numbers 1–8, wrapped in GossipMessage{type=2, data}', (t) => {
  const e: TableEvent = { type: TableEventType.DELETE, lTime: 5n, nodeName: 'n', networkId: 'x', tableName: 't', key: 'k', value: Buffer.from('v'), residualReapTime: 1800 };
  const inner = '0803 1005 1a016e 220178 2a0174 32016b 3a0176 40880e'.replace(/\s+/g, '');
  const expected = `0802 12${(inner.length / 2).toString(16).padStart(2, '0')} ${inner}`.replace(/\s+/g, '');
  t.is(hex(tableEvent(e)), expected);
  const g = decodeGossip(h(expected));
  t.is(g.type, MessageType.TABLE_EVENT);
  t.true(Buffer.isBuffer(g.data));
  t.deepEqual(decodeTableEvent(g.data), e);
  // A CREATE with no reap time writes no field 8 (proto3 zero left out, as gogoproto).
  t.is(hex(decodeGossip(tableEvent({ ...e, type: TableEventType.CREATE, residualReapTime: 0 })).data), inner.replace('0803', '0801').replace('40880e', ''));
});

test('l_time is a full uint64 (2^64-1 survives both ways)', (t) => {
  const max = 2n ** 64n - 1n;
  const data = decodeGossip(tableEvent({ type: 1, lTime: max, nodeName: 'n', networkId: 'x', tableName: 't', key: 'k', value: Buffer.from('v'), residualReapTime: 0 })).data;
  t.is(hex(data.subarray(0, 14)), '08 01 10 ffffffffffffffffff01'.replace(/\s+/g, '') + '1a');
  t.is(decodeTableEvent(data).lTime, max);
  t.is(decodeNetworkEvent(decodeGossip(networkEvent({ type: 1, lTime: 2n ** 53n + 1n, nodeName: 'a', networkId: 'b' })).data).lTime, 2n ** 53n + 1n);
});

test('TableEvent, CompoundMessage and GossipMessage are read by hand as protobufjs reads them: absent fields zero, unknown fields skipped, last value wins, a cut message refused', (t) => {
  const e: TableEvent = { type: TableEventType.UPDATE, lTime: 2n ** 53n + 3n, nodeName: 'nödé', networkId: 'x', tableName: 'endpoint_table', key: 'k'.repeat(64), value: Buffer.from([0, 1, 2, 255]), residualReapTime: -5 };
  const data = decodeGossip(tableEvent(e)).data;
  t.deepEqual(decodeTableEvent(data), e, 'every field, a negative int32 (10-byte varint) and UTF-8 included');
  t.deepEqual(decodeTableEvent(Buffer.alloc(0)), { type: 0, lTime: 0n, nodeName: '', networkId: '', tableName: '', key: '', value: Buffer.alloc(0), residualReapTime: 0 });
  // Unknown fields of every wire type (varint 15, fixed64 16, bytes 17, fixed32 18) are skipped; a repeated key keeps the last.
  const unknown = h(`7801 8101 0102030405060708 8a0102abcd 9501 01020304 3202${str('zz')}`);
  t.deepEqual(decodeTableEvent(Buffer.concat([data, unknown])), { ...e, key: 'zz' });
  const parts = [tableEvent(e), tableEvent({ ...e, key: 'other' }), Buffer.alloc(0)];
  const c = decodeGossip(compound(parts));
  t.is(c.type, MessageType.COMPOUND);
  t.deepEqual(decodeCompound(c.data).map(hex), parts.map(hex));
  t.deepEqual(decodeGossip(h('0807')), { type: 7, data: Buffer.alloc(0) });
  // Every cut of a message either reads (cut at a field's end) or is refused as malformed: never another error.
  for (const whole of [tableEvent(e), c.data]) {
    for (let len = 0; len < whole.length; len++) {
      const cut = whole.subarray(0, len);
      for (const read of [decodeGossip, decodeTableEvent, decodeCompound]) {
        try {
          read(cut);
        } catch (err) {
          t.true(err instanceof GossipDecodeError, `${read.name} of ${len} bytes`);
        }
      }
    }
  }
  const err = t.throws(() => decodeTableEvent(h('1a05616263')));
  t.true(err instanceof GossipDecodeError);
  t.throws(() => decodeTableEvent(h('0b')), { message: /wire type 3/ });
  t.throws(() => decodeTableEvent(h('1201')), { message: /field 2 has wire type 2/ });
});

test('NetworkEvent field numbers and round trip', (t) => {
  const buf = networkEvent({ type: EventType.LEAVE, lTime: 300n, nodeName: 'node1', networkId: 'net9' });
  const inner = `0802 10ac02 1a05${str('node1')} 2204${str('net9')}`.replace(/\s+/g, '');
  t.is(hex(buf), `080112${(inner.length / 2).toString(16).padStart(2, '0')}${inner}`);
  const g = decodeGossip(buf);
  t.is(g.type, MessageType.NETWORK_EVENT);
  t.deepEqual(decodeNetworkEvent(g.data), { type: EventType.LEAVE, lTime: 300n, nodeName: 'node1', networkId: 'net9' });
});

test('NodeEvent decodes (fields 1–3)', (t) => {
  t.deepEqual(decodeNodeEvent(h(`0801 1007 1a02${str('nn')}`)), { type: 1, lTime: 7n, nodeName: 'nn' });
  t.deepEqual(decodeNodeEvent(Buffer.alloc(0)), { type: 0, lTime: 0n, nodeName: '' });
});

test('NetworkPushPull round trip and field numbers (l_time=1, networks=2, node_name=3)', (t) => {
  const pp = {
    lTime: 42n,
    nodeName: 'me',
    networks: [
      { networkId: 'n1', lTime: 41n, nodeName: 'me', leaving: false },
      { networkId: 'n2', lTime: 3n, nodeName: 'other', leaving: true },
    ],
  };
  const buf = pushPull(pp);
  const g = decodeGossip(buf);
  t.is(g.type, MessageType.PUSH_PULL);
  t.deepEqual(decodePushPull(g.data), pp);
  const e1 = `0a02${str('n1')} 1029 1a02${str('me')}`.replace(/\s+/g, '');
  const e2 = `0a02${str('n2')} 1003 1a05${str('other')} 2001`.replace(/\s+/g, '');
  t.is(hex(g.data), `082a 12${(e1.length / 2).toString(16).padStart(2, '0')}${e1} 12${(e2.length / 2).toString(16).padStart(2, '0')}${e2} 1a02${str('me')}`.replace(/\s+/g, ''));
  t.deepEqual(decodePushPull(decodeGossip(pushPull({ lTime: 0n, nodeName: 'x', networks: [] })).data), { lTime: 0n, nodeName: 'x', networks: [] });
});

test('BulkSyncMessage round trip and field numbers (1 l_time, 2 unsolicited, 3 node_name, 4 networks, 5 payload)', (t) => {
  const payload = compound([tableEvent({ type: 1, lTime: 1n, nodeName: 'a', networkId: 'n', tableName: 't', key: 'k', value: Buffer.from([1, 2]), residualReapTime: 0 })]);
  const b = { lTime: 9n, unsolicited: true, nodeName: 'a', networks: ['n', 'm'], payload };
  const g = decodeGossip(bulkSync(b));
  t.is(g.type, MessageType.BULK_SYNC);
  t.deepEqual(decodeBulkSync(g.data), b);
  const head = `0809 1001 1a01${str('a')} 2201${str('n')} 2201${str('m')} 2a`.replace(/\s+/g, '');
  t.true(hex(g.data).startsWith(head), hex(g.data));
  const solicited = decodeBulkSync(decodeGossip(bulkSync({ ...b, unsolicited: false, payload: Buffer.alloc(0) })).data);
  t.false(solicited.unsolicited);
  t.is(solicited.payload.length, 0);
  t.true(Buffer.isBuffer(solicited.payload));
});

test('a bulk sync in two parts (head, then the payload itself) is the same bytes as in one', (t) => {
  const payload = compound([1, 2, 3].map((i) => tableEvent({ type: 1, lTime: BigInt(i), nodeName: 'a', networkId: 'n', tableName: 't', key: `k${i}`, value: Buffer.alloc(200 * i, i), residualReapTime: 0 })));
  for (const p of [payload, Buffer.alloc(0)]) {
    const b = { lTime: 300n, unsolicited: false, nodeName: 'node-a', networks: ['n', 'm'], payload: p };
    const [head, tail] = bulkSyncParts(b);
    t.is(tail, p, 'the payload is sent as it is, not copied');
    t.is(hex(Buffer.concat([head, tail])), hex(bulkSync(b)));
  }
});

test('CompoundMessage: messages=1 of SimpleMessage{Payload=1}, order kept', (t) => {
  const parts = [networkEvent({ type: 1, lTime: 1n, nodeName: 'a', networkId: 'n' }), Buffer.from([0xde, 0xad]), gossip(MessageType.NODE_EVENT, Buffer.from([8, 1]))];
  const buf = compound(parts);
  const g = decodeGossip(buf);
  t.is(g.type, MessageType.COMPOUND);
  t.true(hex(g.data).startsWith(`0a${(parts[0]!.length + 2).toString(16).padStart(2, '0')}0a${parts[0]!.length.toString(16).padStart(2, '0')}`));
  t.deepEqual(decodeCompound(g.data), parts);
  t.deepEqual(decodeCompound(decodeGossip(compound([])).data), []);
});

test('the hand-written encoders write what protobufjs writes from networkdb.proto: negative int32, multi-byte UTF-8, 2-byte lengths, empty parts', (t) => {
  const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../netd/gossip/networkdb.proto', import.meta.url)), { keepCase: true });
  const ref = (name: string, v: Record<string, unknown>) => Buffer.from(root.lookupType(`berth.gossip.${name}`).encode(root.lookupType(`berth.gossip.${name}`).fromObject(v)).finish());
  const refGossip = (type: number, data: Buffer) => ref('GossipMessage', data.length > 0 ? { type, data } : { type });
  const events: TableEvent[] = [
    { type: TableEventType.DELETE, lTime: 300n, nodeName: 'nöde-ü', networkId: 'n'.repeat(200), tableName: 'endpoint_table', key: 'k', value: Buffer.alloc(300, 7), residualReapTime: -1 },
    { type: TableEventType.CREATE, lTime: 2n ** 60n, nodeName: '', networkId: '', tableName: '', key: '', value: Buffer.alloc(0), residualReapTime: 0 },
    { type: TableEventType.UPDATE, lTime: 1n, nodeName: 'a', networkId: 'b', tableName: 'c', key: 'd'.repeat(20_000), value: Buffer.from('e'), residualReapTime: 2 ** 31 - 1 },
  ];
  for (const e of events) {
    const fields: Record<string, unknown> = { type: e.type, l_time: e.lTime.toString(), node_name: e.nodeName, network_id: e.networkId, table_name: e.tableName, key: e.key, value: e.value, residual_reap_time: e.residualReapTime };
    for (const [k, v] of Object.entries(fields)) if (v === '' || v === 0 || (Buffer.isBuffer(v) && v.length === 0)) delete fields[k];
    t.is(hex(tableEvent(e)), hex(refGossip(MessageType.TABLE_EVENT, ref('TableEvent', fields))));
  }
  const parts = [...events.map(tableEvent), Buffer.alloc(0)];
  t.is(hex(compound(parts)), hex(refGossip(MessageType.COMPOUND, ref('CompoundMessage', { messages: parts.map((p) => (p.length > 0 ? { Payload: p } : {})) }))));
  t.is(hex(compound([])), hex(refGossip(MessageType.COMPOUND, Buffer.alloc(0))));
  const payload = compound(parts);
  const b = { lTime: 77n, unsolicited: false, nodeName: 'ä', networks: ['x', '', 'y'], payload };
  t.is(hex(bulkSync(b)), hex(refGossip(MessageType.BULK_SYNC, ref('BulkSyncMessage', { l_time: '77', node_name: 'ä', networks: b.networks, payload }))));
  // Written in one pass: the same bytes as the events encoded one by one, then compounded.
  for (const list of [events, [], [events[0]!]]) t.is(hex(tableEventsCompound((visit) => list.forEach((e) => visit(e)))), hex(compound(list.map(tableEvent))));
});

test('decoders give Buffers for bytes fields also from a plain Uint8Array', (t) => {
  const buf = tableEvent({ type: 1, lTime: 1n, nodeName: 'a', networkId: 'n', tableName: 't', key: 'k', value: Buffer.from('vv'), residualReapTime: 0 });
  const g = decodeGossip(new Uint8Array(buf));
  t.true(Buffer.isBuffer(g.data));
  const e = decodeTableEvent(new Uint8Array(g.data));
  t.true(Buffer.isBuffer(e.value));
  t.true(e.value.equals(Buffer.from('vv')));
});

test('malformed input throws GossipDecodeError (E_GOSSIP_DECODE)', (t) => {
  const cases: Array<[string, () => unknown]> = [
    ['truncated length-delimited', () => decodeGossip(h('0802 1205 ab'))],
    ['truncated varint', () => decodeGossip(h('08 80'))],
    ['invalid wire type 7', () => decodePeerRecord(h('0f'))],
    ['truncated TableEvent string', () => decodeTableEvent(h('1a 10 6e'))],
    ['truncated bulk sync payload', () => decodeBulkSync(h('2a 20 00'))],
    ['truncated compound part', () => decodeCompound(h('0a 04 0a 09 01'))],
    ['truncated push-pull entry', () => decodePushPull(h('12 08 0a 02 6e'))],
    ['bad NetworkEvent', () => decodeNetworkEvent(h('22 ff'))],
  ];
  for (const [name, fn] of cases) {
    const err = t.throws(fn, undefined, name);
    t.true(err instanceof GossipDecodeError, name);
    t.is((err as GossipDecodeError).code, 'E_GOSSIP_DECODE', name);
  }
});
