// NetworkDB's protobuf messages (netd/gossip/networkdb.proto) through protobufjs: GossipMessage
// framing, compounds, and the overlay driver's PeerRecord.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { BerthError } from '../../base/index.js';

// Beside this module, in the source tree and in the built layout (scripts/build.sh copies it).
function protoPath(): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'networkdb.proto');
  if (existsSync(path)) return path;
  throw new BerthError('E_LAYOUT_INCOMPLETE', `${path} is missing: rebuild with \`npm run build\` (a package install: reinstall the berth package)`);
}

// keepCase: the field names stay as in the .proto (l_time, not lTime).
const root = new protobuf.Root().loadSync(protoPath(), { keepCase: true });
const type = (name: string) => root.lookupType(`berth.gossip.${name}`);
const T = {
  GossipMessage: type('GossipMessage'),
  NodeEvent: type('NodeEvent'),
  NetworkEvent: type('NetworkEvent'),
  NetworkPushPull: type('NetworkPushPull'),
  TableEvent: type('TableEvent'),
  BulkSyncMessage: type('BulkSyncMessage'),
  CompoundMessage: type('CompoundMessage'),
  PeerRecord: type('PeerRecord'),
  EndpointRecord: type('EndpointRecord'),
};

export const MessageType = { NETWORK_EVENT: 1, TABLE_EVENT: 2, PUSH_PULL: 3, BULK_SYNC: 4, COMPOUND: 5, NODE_EVENT: 6 } as const;
export const EventType = { JOIN: 1, LEAVE: 2 } as const;
export const TableEventType = { CREATE: 1, UPDATE: 2, DELETE: 3 } as const;

export interface NetworkEvent {
  type: number;
  lTime: bigint;
  nodeName: string;
  networkId: string;
}
export interface NetworkEntry {
  networkId: string;
  lTime: bigint;
  nodeName: string;
  leaving: boolean;
}
export interface NetworkPushPull {
  lTime: bigint;
  nodeName: string;
  networks: NetworkEntry[];
}
export interface TableEvent {
  type: number;
  lTime: bigint;
  nodeName: string;
  networkId: string;
  tableName: string;
  key: string;
  value: Buffer;
  residualReapTime: number;
}
export interface BulkSync {
  lTime: bigint;
  unsolicited: boolean;
  nodeName: string;
  networks: string[];
  payload: Buffer;
}
export interface PeerRecord {
  endpointIp: string;
  endpointMac: string;
  tunnelEndpointIp: string;
}

/** A NetworkDB message that does not decode; retrying the same bytes cannot help. */
export class GossipDecodeError extends BerthError {
  declare readonly code: 'E_GOSSIP_DECODE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_GOSSIP_DECODE', message, options);
  }
}

const LONG = { longs: String, defaults: true, bytes: Buffer } as const;

function decode<R>(t: protobuf.Type, buf: Uint8Array, what: string): R {
  try {
    // The plain Reader over a Buffer: bytes fields come out as Buffers (not bare Uint8Arrays), and
    // a string running past the end throws (protobufjs's BufferReader silently cuts it short).
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return t.toObject(t.decode(new protobuf.Reader(b)), LONG) as R;
  } catch (err) {
    throw new GossipDecodeError(`malformed ${what}: ${(err as Error).message}`, { cause: err });
  }
}
/** proto3 as gogoproto writes it (facts §4): zero, empty and false fields left out. */
function omitDefaults(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || x === null || x === '' || x === 0 || x === false || (x instanceof Uint8Array && x.length === 0)) continue;
    out[k] = Array.isArray(x) ? x.map((e: unknown) => (e && typeof e === 'object' && !(e instanceof Uint8Array) ? omitDefaults(e as Record<string, unknown>) : e)) : x;
  }
  return out;
}
const encode = (t: protobuf.Type, v: Record<string, unknown>) => Buffer.from(t.encode(t.fromObject(omitDefaults(v))).finish());
const u64 = (v: bigint) => (v === 0n ? undefined : v.toString());

export function gossip(typeCode: number, data: Uint8Array): Buffer {
  return encode(T.GossipMessage, { type: typeCode, data });
}

/**
 * The three messages a bulk sync is made of — GossipMessage, CompoundMessage and TableEvent,
 * 3 × 20,000 of them for a 10,000-endpoint network, twice every 30 s (ours and the peer's
 * periodic sync) — are read by hand: protobufjs's decode plus toObject made two objects and
 * several Buffers per message, and that garbage was most of an idle agentd's CPU and memory at
 * that size. Proto3 as protobufjs reads it: absent fields are zero, '' or an empty Buffer, a
 * repeated scalar keeps its last value, unknown fields are skipped, bytes are views into `buf`.
 */
class WireReader {
  pos = 0;
  readonly buf: Buffer;
  /** Where the message being read ends: the buffer's end, or an embedded message's. */
  limit: number;
  /** The payload span of the compound part last read (nextCompoundPart). */
  partStart = 0;
  partEnd = 0;

  constructor(
    buf: Uint8Array,
    private readonly what: string,
  ) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.limit = this.buf.length;
  }

  get done(): boolean {
    return this.pos >= this.limit;
  }

  fail(why: string): never {
    throw new GossipDecodeError(`malformed ${this.what}: ${why}`);
  }

  /** A varint as a number while it fits in 53 bits, else as a bigint. */
  varint(): number | bigint {
    let n = 0;
    for (let shift = 0; shift < 49; shift += 7) {
      if (this.pos >= this.limit) this.fail('varint past the end');
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
    let big = BigInt(n);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (this.pos >= this.limit) this.fail('varint past the end');
      const b = this.buf[this.pos++]!;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, big);
    }
    return this.fail('varint longer than 10 bytes');
  }

  uint64(): bigint {
    const v = this.varint();
    return typeof v === 'bigint' ? v : BigInt(v);
  }

  /** int32 and enums: the low 32 bits, signed (a negative one is sent as 10 bytes). */
  int32(): number {
    const v = this.varint();
    return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : v > 0x7fffffff ? Number(BigInt.asIntN(32, BigInt(v))) : v;
  }

  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const len = this.varint();
    if (typeof len !== 'number' || this.pos + len > this.limit) this.fail('length past the end');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  bytes(): Buffer {
    const [start, end] = this.span();
    return this.buf.subarray(start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return this.buf.toString('utf8', start, end);
  }

  /** The next field's tag: its number is `fieldOf(tag)`, its wire type `tag & 7` (a number,
   *  not a pair: a bulk sync reads eight tags per event, 160,000 of them per sync). */
  tag(): number {
    const t = this.varint();
    if (typeof t !== 'number') this.fail('field tag out of range');
    return t;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.span();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        this.fail(`wire type ${wireType}`);
    }
    if (this.pos > this.limit) this.fail('fixed field past the end');
  }

  expect(wireType: number, want: number, field: number): void {
    if (wireType !== want) this.fail(`field ${field} has wire type ${wireType}, not ${want}`);
  }
}

/** The field number of a tag (it may exceed 2^31: no bit shift). */
function fieldOf(tag: number): number {
  return Math.floor(tag / 8);
}

/** Bytes a varint of `n` (a non-negative integer, at most 2^53) takes. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A uint64 as a number when it is exact as one (Lamport times are), else as a bigint. */
function u64Value(v: bigint): number | bigint {
  return v <= 0x1fffffffffffffn ? Number(v) : BigInt.asUintN(64, v);
}

function uint64Size(v: bigint): number {
  const n = u64Value(v);
  if (typeof n === 'number') return varintSize(n);
  let size = 1;
  for (let x = n; x >= 0x80n; x >>= 7n) size++;
  return size;
}

/** int32 as protobuf writes it: a negative one sign-extended to 10 bytes. */
function int32Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

/** GossipMessage{type, data} around a body of `body` bytes. */
function gossipSize(type: number, body: number): number {
  return 1 + varintSize(type) + (body === 0 ? 0 : 1 + varintSize(body) + body);
}

/**
 * The size of a message WireWriter writes, field by field, with the same rules (proto3 as
 * gogoproto writes it, facts §4: zero, '' and empty bytes left out), so the one Buffer the
 * writer fills is allocated at its final length.
 */
class WireSizer {
  size = 0;

  varintField(v: number): this {
    if (v !== 0) this.size += 1 + int32Size(v);
    return this;
  }

  int32Field(v: number): this {
    return this.varintField(v);
  }

  uint64Field(v: bigint): this {
    if (v !== 0n) this.size += 1 + uint64Size(v);
    return this;
  }

  stringField(v: string): this {
    if (v.length > 0) this.repeatedStringField(v);
    return this;
  }

  /** A repeated string's element: written even when empty. */
  repeatedStringField(v: string): this {
    const n = Buffer.byteLength(v);
    this.size += 1 + varintSize(n) + n;
    return this;
  }

  bytesField(v: Uint8Array): this {
    if (v.length > 0) this.size += 1 + varintSize(v.length) + v.length;
    return this;
  }
}

/**
 * Writes NetworkDB's messages by hand into one Buffer: a bulk sync is 20,000 table events for a
 * 10,000-endpoint network, every 30 s, and protobufjs (an object to check, a Long per uint64, a
 * Buffer per level of nesting) made most of an idle agentd's garbage at that size. Field numbers
 * below 16 only: every tag is one byte.
 */
class WireWriter {
  private pos = 0;
  private readonly buf: Buffer;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private varint(n: number | bigint): void {
    if (typeof n === 'number') {
      while (n >= 0x80) {
        this.buf[this.pos++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      this.buf[this.pos++] = n;
      return;
    }
    while (n >= 0x80n) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  private tag(field: number, wireType: number): void {
    this.buf[this.pos++] = (field << 3) | wireType;
  }

  gossipHeader(type: number, body: number): void {
    this.varintField(1, type);
    if (body > 0) this.lengthPrefix(2, body);
  }

  lengthPrefix(field: number, length: number): void {
    this.tag(field, 2);
    this.varint(length);
  }

  varintField(field: number, v: number): this {
    if (v === 0) return this;
    this.tag(field, 0);
    this.varint(v < 0 ? BigInt.asUintN(64, BigInt(v)) : v);
    return this;
  }

  int32Field(field: number, v: number): this {
    return this.varintField(field, v);
  }

  uint64Field(field: number, v: bigint): this {
    if (v === 0n) return this;
    this.tag(field, 0);
    this.varint(u64Value(v));
    return this;
  }

  stringField(field: number, v: string): this {
    if (v.length > 0) this.repeatedStringField(field, v);
    return this;
  }

  repeatedStringField(field: number, v: string): this {
    const n = Buffer.byteLength(v);
    this.lengthPrefix(field, n);
    this.pos += this.buf.write(v, this.pos, n, 'utf8');
    return this;
  }

  /** Raw bytes, no tag: the inside of a length-delimited field already begun. */
  bytes(v: Uint8Array): void {
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  bytesField(field: number, v: Uint8Array): this {
    if (v.length === 0) return this;
    this.lengthPrefix(field, v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  finish(): Buffer {
    if (this.pos !== this.buf.length) throw new BerthError('E_GOSSIP_ENCODE', `NetworkDB message sized at ${this.buf.length} bytes but ${this.pos} written (a bug in berth's encoder)`);
    return this.buf;
  }
}

export function decodeGossip(buf: Uint8Array): { type: number; data: Buffer } {
  const r = new WireReader(buf, 'GossipMessage');
  let type = 0;
  let data: Buffer | undefined;
  while (!r.done) {
    const tag = r.tag();
    const field = fieldOf(tag);
    const wire = tag & 7;
    if (field === 1 && wire === 0) type = r.int32();
    else if (field === 2) {
      r.expect(wire, 2, field);
      data = r.bytes();
    } else r.skip(wire);
  }
  return { type, data: data ?? Buffer.alloc(0) };
}

export function compound(messages: readonly Uint8Array[]): Buffer {
  let body = 0;
  for (const m of messages) {
    const simple = m.length === 0 ? 0 : 1 + varintSize(m.length) + m.length;
    body += 1 + varintSize(simple) + simple;
  }
  const out = new WireWriter(gossipSize(MessageType.COMPOUND, body));
  out.gossipHeader(MessageType.COMPOUND, body);
  for (const m of messages) {
    out.lengthPrefix(1, m.length === 0 ? 0 : 1 + varintSize(m.length) + m.length);
    out.bytesField(1, m);
  }
  return out.finish();
}

/**
 * Moves `r` past the next SimpleMessage of a CompoundMessage, read in place (no reader and no view
 * per part); its payload's span is left in r.partStart/r.partEnd (an empty span when it has none).
 * False at the end of the message.
 */
function nextCompoundPart(r: WireReader): boolean {
  while (!r.done) {
    const tag = r.tag();
    if (fieldOf(tag) !== 1) {
      r.skip(tag & 7);
      continue;
    }
    r.expect(tag & 7, 2, 1);
    const [start, end] = r.span();
    const outer = r.limit;
    r.pos = start;
    r.limit = end;
    r.partStart = r.partEnd = 0;
    while (!r.done) {
      const t = r.tag();
      if (fieldOf(t) === 1) {
        r.expect(t & 7, 2, 1);
        [r.partStart, r.partEnd] = r.span();
      } else r.skip(t & 7);
    }
    r.pos = end;
    r.limit = outer;
    return true;
  }
  return false;
}

/**
 * A CompoundMessage's parts as views into `data`, each made as it is taken: a bulk sync's 20,000
 * are never all held at once, so each dies young instead of outliving scavenges into the old
 * generation. The whole message is checked first: a malformed one throws before any part is
 * given out, as decodeCompound does.
 */
export function* compoundParts(data: Uint8Array): Generator<Buffer, void, undefined> {
  const r = new WireReader(data, 'CompoundMessage');
  let parts = 0;
  while (nextCompoundPart(r)) parts++;
  r.pos = 0;
  for (let i = 0; i < parts; i++) {
    nextCompoundPart(r);
    yield r.partEnd > r.partStart ? r.buf.subarray(r.partStart, r.partEnd) : Buffer.alloc(0);
  }
}

export function decodeCompound(data: Uint8Array): Buffer[] {
  return [...compoundParts(data)];
}

export function networkEvent(e: NetworkEvent): Buffer {
  return gossip(MessageType.NETWORK_EVENT, encode(T.NetworkEvent, { type: e.type, l_time: u64(e.lTime), node_name: e.nodeName, network_id: e.networkId }));
}

export function decodeNetworkEvent(data: Uint8Array): NetworkEvent {
  const o = decode<{ type: number; l_time: string; node_name: string; network_id: string }>(T.NetworkEvent, data, 'NetworkEvent');
  return { type: o.type, lTime: BigInt(o.l_time), nodeName: o.node_name, networkId: o.network_id };
}

export function decodeNodeEvent(data: Uint8Array): { type: number; lTime: bigint; nodeName: string } {
  const o = decode<{ type: number; l_time: string; node_name: string }>(T.NodeEvent, data, 'NodeEvent');
  return { type: o.type, lTime: BigInt(o.l_time), nodeName: o.node_name };
}

export function pushPull(p: NetworkPushPull): Buffer {
  return gossip(
    MessageType.PUSH_PULL,
    encode(T.NetworkPushPull, {
      l_time: u64(p.lTime),
      node_name: p.nodeName,
      networks: p.networks.map((n) => ({ network_id: n.networkId, l_time: u64(n.lTime), node_name: n.nodeName, leaving: n.leaving })),
    }),
  );
}

export function decodePushPull(data: Uint8Array): NetworkPushPull {
  const o = decode<{ l_time: string; node_name: string; networks: Array<{ network_id: string; l_time: string; node_name: string; leaving: boolean }> }>(T.NetworkPushPull, data, 'NetworkPushPull');
  return { lTime: BigInt(o.l_time), nodeName: o.node_name, networks: o.networks.map((n) => ({ networkId: n.network_id, lTime: BigInt(n.l_time), nodeName: n.node_name, leaving: n.leaving })) };
}

function tableEventBodySize(e: TableEvent): number {
  return new WireSizer().varintField(e.type).uint64Field(e.lTime).stringField(e.nodeName).stringField(e.networkId).stringField(e.tableName).stringField(e.key).bytesField(e.value).int32Field(e.residualReapTime).size;
}

function writeTableEventBody(out: WireWriter, e: TableEvent): void {
  out.varintField(1, e.type).uint64Field(2, e.lTime).stringField(3, e.nodeName).stringField(4, e.networkId).stringField(5, e.tableName).stringField(6, e.key).bytesField(7, e.value).int32Field(8, e.residualReapTime);
}

export function tableEvent(e: TableEvent): Buffer {
  const body = tableEventBodySize(e);
  const out = new WireWriter(gossipSize(MessageType.TABLE_EVENT, body));
  out.gossipHeader(MessageType.TABLE_EVENT, body);
  writeTableEventBody(out, e);
  return out.finish();
}

export function decodeTableEvent(data: Uint8Array): TableEvent {
  const r = new WireReader(data, 'TableEvent');
  const e: TableEvent = { type: 0, lTime: 0n, nodeName: '', networkId: '', tableName: '', key: '', value: EMPTY_VALUE, residualReapTime: 0 };
  while (!r.done) {
    const tag = r.tag();
    const field = fieldOf(tag);
    const wire = tag & 7;
    if (field === 1 || field === 2 || field === 8) {
      r.expect(wire, 0, field);
      if (field === 1) e.type = r.int32();
      else if (field === 2) e.lTime = r.uint64();
      else e.residualReapTime = r.int32();
    } else if (field >= 3 && field <= 7) {
      r.expect(wire, 2, field);
      if (field === 3) e.nodeName = r.string();
      else if (field === 4) e.networkId = r.string();
      else if (field === 5) e.tableName = r.string();
      else if (field === 6) e.key = r.string();
      else e.value = r.bytes();
    } else r.skip(wire);
  }
  return e;
}
const EMPTY_VALUE = Buffer.alloc(0);

export function bulkSync(b: BulkSync): Buffer {
  return writeBulkSync(b, b.payload.length, (out) => out.bytes(b.payload));
}

/**
 * A bulk sync as two parts, everything before the payload and the payload itself (its last
 * field), to be sent one after the other: the payload — megabytes at thousands of endpoints,
 * kept while nothing changes — is not copied into a new message for every sync.
 */
export function bulkSyncParts(b: BulkSync): [head: Buffer, payload: Buffer] {
  return [writeBulkSync(b, b.payload.length), b.payload];
}

/** Hands each of a set of table events to `visit`, in the same order every time it is called;
 *  `visit` reads the event before it returns, so one object may be reused for all of them. */
export type TableEventSource = (visit: (e: TableEvent) => void) => void;

/**
 * The events of `source` as one CompoundMessage of their table events (a bulk sync's payload),
 * written straight into one Buffer: a 10,000-endpoint network's sync is 20,000 events, which were
 * one Buffer each, then copied into the compound. `source` is walked twice (sizes, then bytes),
 * so NetworkDB walks its maps and makes no object per event: a generator of fresh events made
 * ~12 MB of garbage per sync at that size.
 */
export function tableEventsCompound(source: TableEventSource): Buffer {
  const bodies: number[] = [];
  let compoundBody = 0;
  source((e) => {
    const body = tableEventBodySize(e);
    bodies.push(body);
    const msg = gossipSize(MessageType.TABLE_EVENT, body);
    const simple = 1 + varintSize(msg) + msg;
    compoundBody += 1 + varintSize(simple) + simple;
  });
  const out = new WireWriter(gossipSize(MessageType.COMPOUND, compoundBody));
  out.gossipHeader(MessageType.COMPOUND, compoundBody);
  let i = 0;
  source((e) => {
    // Fewer events the second time leave the Buffer short: finish() says so.
    const body = bodies[i++];
    if (body === undefined) throw new BerthError('E_GOSSIP_ENCODE', 'a bulk sync was given more events to write than it sized (a bug in berth)');
    const msg = gossipSize(MessageType.TABLE_EVENT, body);
    out.lengthPrefix(1, 1 + varintSize(msg) + msg);
    out.lengthPrefix(1, msg);
    out.gossipHeader(MessageType.TABLE_EVENT, body);
    writeTableEventBody(out, e);
  });
  return out.finish();
}

/** Without `writePayload`, the message stops before the payload's bytes: the caller sends them after it. */
function writeBulkSync(b: Omit<BulkSync, 'payload'>, payloadSize: number, writePayload?: (out: WireWriter) => void): Buffer {
  const w = new WireSizer();
  w.uint64Field(b.lTime).varintField(b.unsolicited ? 1 : 0).stringField(b.nodeName);
  for (const n of b.networks) w.repeatedStringField(n);
  if (payloadSize > 0) w.size += 1 + varintSize(payloadSize) + payloadSize;
  const body = w.size;
  const out = new WireWriter(gossipSize(MessageType.BULK_SYNC, body) - (writePayload ? 0 : payloadSize));
  out.gossipHeader(MessageType.BULK_SYNC, body);
  out.uint64Field(1, b.lTime).varintField(2, b.unsolicited ? 1 : 0).stringField(3, b.nodeName);
  for (const n of b.networks) out.repeatedStringField(4, n);
  if (payloadSize > 0) {
    out.lengthPrefix(5, payloadSize);
    writePayload?.(out);
  }
  return out.finish();
}

export function decodeBulkSync(data: Uint8Array): BulkSync {
  const o = decode<{ l_time: string; unsolicited: boolean; node_name: string; networks: string[]; payload: Buffer }>(T.BulkSyncMessage, data, 'BulkSyncMessage');
  return { lTime: BigInt(o.l_time), unsolicited: o.unsolicited, nodeName: o.node_name, networks: o.networks, payload: o.payload };
}

export function peerRecord(p: PeerRecord): Buffer {
  return encode(T.PeerRecord, { endpoint_ip: p.endpointIp, endpoint_mac: p.endpointMac, tunnel_endpoint_ip: p.tunnelEndpointIp });
}

export function decodePeerRecord(buf: Uint8Array): PeerRecord {
  const o = decode<{ endpoint_ip: string; endpoint_mac: string; tunnel_endpoint_ip: string }>(T.PeerRecord, buf, 'PeerRecord');
  return { endpointIp: o.endpoint_ip, endpointMac: o.endpoint_mac, tunnelEndpointIp: o.tunnel_endpoint_ip };
}

/** A task's service-discovery record in `endpoint_table` (libnetwork's EndpointRecord). */
export interface EndpointRecord {
  /** Container name (the task name on Swarm). */
  name: string;
  serviceName: string;
  serviceId: string;
  /** The service's VIP on this network, bare; empty (or "<nil>") for dnsrr. */
  virtualIp: string;
  endpointIp: string;
  /** Routing-mesh ports, on the ingress network only (libnetwork fills them nowhere else). */
  ingressPorts?: IngressPort[];
  aliases: string[];
  taskAliases: string[];
  serviceDisabled: boolean;
}

/** A published port in an endpoint_table entry (libnetwork's PortConfig; SCTP is not balanced by berth). */
export interface IngressPort {
  protocol: 'tcp' | 'udp' | 'sctp';
  targetPort: number;
  publishedPort: number;
}

const PORT_PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

export function endpointRecord(r: EndpointRecord): Buffer {
  return encode(T.EndpointRecord, {
    name: r.name,
    service_name: r.serviceName,
    service_id: r.serviceId,
    virtual_ip: r.virtualIp,
    endpoint_ip: r.endpointIp,
    ingress_ports: (r.ingressPorts ?? []).map((p) => ({ protocol: PORT_PROTOCOLS.indexOf(p.protocol), target_port: p.targetPort, published_port: p.publishedPort })),
    aliases: r.aliases,
    task_aliases: r.taskAliases,
    service_disabled: r.serviceDisabled,
  });
}

export function decodeEndpointRecord(buf: Uint8Array): EndpointRecord {
  const o = decode<{
    name: string;
    service_name: string;
    service_id: string;
    virtual_ip: string;
    endpoint_ip: string;
    ingress_ports?: Array<{ protocol?: number; target_port?: number; published_port?: number }>;
    aliases: string[];
    task_aliases: string[];
    service_disabled: boolean;
  }>(T.EndpointRecord, buf, 'EndpointRecord');
  const ingressPorts = (o.ingress_ports ?? []).flatMap((p): IngressPort[] => {
    const protocol = PORT_PROTOCOLS[p.protocol ?? 0];
    return protocol ? [{ protocol, targetPort: p.target_port ?? 0, publishedPort: p.published_port ?? 0 }] : [];
  });
  return {
    name: o.name,
    serviceName: o.service_name,
    serviceId: o.service_id,
    virtualIp: o.virtual_ip,
    endpointIp: o.endpoint_ip,
    ...(ingressPorts.length > 0 ? { ingressPorts } : {}),
    aliases: o.aliases,
    taskAliases: o.task_aliases,
    serviceDisabled: o.service_disabled,
  };
}
