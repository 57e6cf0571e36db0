// The few nf_tables messages the nftables VIP backend sends without `nft`: set-element adds and
// deletes, one rule replaced by handle, a dump of one chain's rules, all in one nfnetlink batch
// (NFNL_MSG_BATCH_BEGIN … END: one transaction, applied whole or not at all). Spawning nft costs
// 4–6 ms and nft 1.0.6 reads every chain and set of the namespace before a change (12–20 ms at
// 10,000 services); a batch on a socket kept open costs one round trip.
//
// Wire facts (linux/netfilter/nfnetlink.h, nf_tables.h; checked against `nft --debug=mnl` 1.0.6
// and the kernel's own dumps, see test/unit/vip-nfnetlink.test.ts):
// - nlmsghdr (16 bytes, host order), then nfgenmsg: family u8, version u8 (0), res_id be16
//   (the subsystem, 10, in BATCH_BEGIN/END; 0 otherwise). Type = subsystem << 8 | message.
// - Attributes: len u16, type u16 (NLA_F_NESTED 0x8000 on nests, as nft sets it), padded to 4.
//   nf_tables' integers are big-endian (u64 handles too); register data is raw bytes as the
//   packet holds them, except host-order values such as ct mark (a `mark` set's keys).
// - Inside a batch the kernel acks every message carrying NLM_F_ACK (0 or -errno), never BEGIN
//   or END; a failed commit is reported as an error for BEGIN's sequence number.
// - NEWRULE with NLM_F_REPLACE and NFTA_RULE_HANDLE swaps the rule in place and the new rule
//   keeps that handle (the kernel allocates a handle only when none is given).
// - Dumps come back without NLA_F_NESTED and with some attributes in another order (ct: SREG
//   before KEY), so rules are compared decoded, not byte for byte.
// Only NFT_REG_1 (1) is used, as nft does for values up to 16 bytes.
import { NLA_TYPE_MASK, NLMSG_HEADER_BYTES, attrList, parseAttrs as attrs, splitMessages, type NetlinkMessage as NlMessage } from '../netlink.js';

export { attrList, attrs, splitMessages, type NlMessage };

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFPROTO_IPV4 = 2;

const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_GETRULE = 7;
export const NFT_MSG_NEWSET = 9;
export const NFT_MSG_GETSET = 10;
export const NFT_MSG_DELSET = 11;
export const NFT_MSG_NEWSETELEM = 12;
export const NFT_MSG_DELSETELEM = 14;
export const NFT_MSG_NEWOBJ = 18;
export const NFT_MSG_GETOBJ = 19;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_CREATE = 0x400;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
const NLA_F_NESTED = 0x8000;
const NFGENMSG_BYTES = 4;

const NFTA_LIST_ELEM = 1;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_SET_TABLE = 1;
const NFTA_SET_NAME = 2;
const NFTA_SET_FLAGS = 3;
const NFTA_SET_KEY_TYPE = 4;
const NFTA_SET_KEY_LEN = 5;
const NFTA_SET_DATA_TYPE = 6;
const NFTA_SET_DATA_LEN = 7;
const NFTA_SET_ID = 10;
const NFTA_SET_USERDATA = 13;
const NFT_SET_ANONYMOUS = 0x1;
const NFT_SET_MAP = 0x8;
const NFTA_OBJ_TABLE = 1;
const NFTA_OBJ_NAME = 2;
const NFTA_OBJ_TYPE = 3;
/** nft's datatypes (src/datatype.h): what `nft list` prints a set's keys and values as. */
const NFT_TYPE_IPADDR = 7;
const NFT_TYPE_MARK = 19;
/** nft's set userdata (libnftnl udata TLVs: type u8, len u8, value): key byte order host (1),
 *  data byte order big-endian (2), merge-elements off; as nft 1.0.6 writes it for
 *  `map m { type mark : ipv4_addr; }`. */
const MARK_TO_IPV4_USERDATA = Uint8Array.of(0, 4, 1, 0, 0, 0, 1, 4, 2, 0, 0, 0, 6, 4, 0, 0, 0, 0);
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_HANDLE = 3;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_SET_ELEM_LIST_SET_ID = 4;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const NFT_GOTO = -4;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const NFTA_PAYLOAD_DREG = 1;
const NFTA_PAYLOAD_BASE = 2;
const NFTA_PAYLOAD_OFFSET = 3;
const NFTA_PAYLOAD_LEN = 4;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
const NFT_CMP_EQ = 0;
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_L4PROTO = 16;
const NFTA_NG_DREG = 1;
const NFTA_NG_MODULUS = 2;
const NFTA_NG_TYPE = 3;
const NFTA_NG_OFFSET = 4;
const NFT_NG_INCREMENTAL = 0;
const NFTA_CT_KEY = 2;
const NFTA_CT_SREG = 4;
const NFT_CT_MARK = 3;
const NFTA_IMMEDIATE_DREG = 1;
const NFTA_IMMEDIATE_DATA = 2;

// ---- expressions ---------------------------------------------------------------------------

/** The expressions the VIP rules use; every load and store goes through register 1. */
export type NftExpr =
  | { kind: 'payload'; base: 'network' | 'transport'; offset: number; len: number }
  | { kind: 'cmp-eq'; data: Uint8Array }
  | { kind: 'meta-l4proto' }
  | { kind: 'numgen-inc'; modulus: number; offset: number }
  | { kind: 'ct-mark-set' }
  | { kind: 'goto'; chain: string };

// ---- encoding ------------------------------------------------------------------------------

/** Appends netlink messages and their attributes to one growing buffer. */
export class NlWriter {
  private buf: Buffer;
  private len = 0;
  private readonly open: number[] = [];

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  /** Starts a message with its nfgenmsg; end it with endMessage(). */
  beginMessage(type: number, flags: number, seq: number, family: number, resId = 0): void {
    this.open.push(this.len);
    this.reserve(NLMSG_HEADER_BYTES + NFGENMSG_BYTES);
    const at = this.len;
    this.buf.writeUInt32LE(0, at);
    this.buf.writeUInt16LE(type, at + 4);
    this.buf.writeUInt16LE(flags, at + 6);
    this.buf.writeUInt32LE(seq >>> 0, at + 8);
    this.buf.writeUInt32LE(0, at + 12);
    this.buf.writeUInt8(family, at + 16);
    this.buf.writeUInt8(0, at + 17);
    this.buf.writeUInt16BE(resId, at + 18);
    this.len += NLMSG_HEADER_BYTES + NFGENMSG_BYTES;
  }

  endMessage(): void {
    const at = this.open.pop()!;
    this.buf.writeUInt32LE(this.len - at, at);
  }

  beginNest(type: number): void {
    this.open.push(this.len);
    this.header(0, type | NLA_F_NESTED);
  }

  endNest(): void {
    const at = this.open.pop()!;
    this.buf.writeUInt16LE(this.len - at, at);
  }

  u32(type: number, value: number): void {
    this.header(8, type);
    this.buf.writeUInt32BE(value >>> 0, this.len);
    this.len += 4;
  }

  i32(type: number, value: number): void {
    this.header(8, type);
    this.buf.writeInt32BE(value, this.len);
    this.len += 4;
  }

  u64(type: number, value: bigint): void {
    this.header(12, type);
    this.buf.writeBigUInt64BE(value, this.len);
    this.len += 8;
  }

  /** A NUL-terminated string, as nf_tables wants names. */
  str(type: number, value: string): void {
    const n = Buffer.byteLength(value);
    this.header(4 + n + 1, type);
    this.buf.write(value, this.len, 'utf8');
    this.buf[this.len + n] = 0;
    this.len += n + 1;
    this.pad();
  }

  /** NFTA_DATA_VALUE nest around 4 bytes: `value` in host order (le) or network order. */
  value32(type: number, value: number, order: 'le' | 'be'): void {
    this.reserve(16);
    this.buf.writeUInt16LE(12, this.len);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, this.len + 2);
    this.buf.writeUInt16LE(8, this.len + 4);
    this.buf.writeUInt16LE(NFTA_DATA_VALUE, this.len + 6);
    if (order === 'le') this.buf.writeUInt32LE(value >>> 0, this.len + 8);
    else this.buf.writeUInt32BE(value >>> 0, this.len + 8);
    this.len += 12;
  }

  bytes(type: number, value: Uint8Array): void {
    this.header(4 + value.length, type);
    this.buf.set(value, this.len);
    this.len += value.length;
    this.pad();
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  private header(len: number, type: number): void {
    this.reserve(((len + 3) & ~3) + 4);
    this.buf.writeUInt16LE(len, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.len += 4;
  }

  private pad(): void {
    while (this.len & 3) this.buf[this.len++] = 0;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}

function dataValue(w: NlWriter, type: number, value: Uint8Array): void {
  w.beginNest(type);
  w.bytes(NFTA_DATA_VALUE, value);
  w.endNest();
}

function encodeExpr(w: NlWriter, e: NftExpr): void {
  w.beginNest(NFTA_LIST_ELEM);
  switch (e.kind) {
    case 'payload':
      w.str(NFTA_EXPR_NAME, 'payload');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_PAYLOAD_DREG, NFT_REG_1);
      w.u32(NFTA_PAYLOAD_BASE, e.base === 'network' ? NFT_PAYLOAD_NETWORK_HEADER : NFT_PAYLOAD_TRANSPORT_HEADER);
      w.u32(NFTA_PAYLOAD_OFFSET, e.offset);
      w.u32(NFTA_PAYLOAD_LEN, e.len);
      break;
    case 'cmp-eq':
      w.str(NFTA_EXPR_NAME, 'cmp');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_CMP_SREG, NFT_REG_1);
      w.u32(NFTA_CMP_OP, NFT_CMP_EQ);
      dataValue(w, NFTA_CMP_DATA, e.data);
      break;
    case 'meta-l4proto':
      w.str(NFTA_EXPR_NAME, 'meta');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_META_KEY, NFT_META_L4PROTO);
      w.u32(NFTA_META_DREG, NFT_REG_1);
      break;
    case 'numgen-inc':
      w.str(NFTA_EXPR_NAME, 'numgen');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_NG_DREG, NFT_REG_1);
      w.u32(NFTA_NG_MODULUS, e.modulus);
      w.u32(NFTA_NG_TYPE, NFT_NG_INCREMENTAL);
      w.u32(NFTA_NG_OFFSET, e.offset);
      break;
    case 'ct-mark-set':
      w.str(NFTA_EXPR_NAME, 'ct');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_CT_KEY, NFT_CT_MARK);
      w.u32(NFTA_CT_SREG, NFT_REG_1);
      break;
    case 'goto':
      w.str(NFTA_EXPR_NAME, 'immediate');
      w.beginNest(NFTA_EXPR_DATA);
      w.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
      w.beginNest(NFTA_IMMEDIATE_DATA);
      w.beginNest(NFTA_DATA_VERDICT);
      w.i32(NFTA_VERDICT_CODE, NFT_GOTO);
      w.str(NFTA_VERDICT_CHAIN, e.chain);
      w.endNest();
      w.endNest();
      break;
  }
  w.endNest();
  w.endNest();
}

/** NFTA_RULE_EXPRESSIONS alone (what a dump of the same rule carries, byte for byte). */
export function encodeExpressions(exprs: readonly NftExpr[]): Buffer {
  const w = new NlWriter(512);
  writeExpressions(w, exprs);
  return w.finish();
}

function writeExpressions(w: NlWriter, exprs: readonly NftExpr[]): void {
  w.beginNest(NFTA_RULE_EXPRESSIONS);
  for (const e of exprs) encodeExpr(w, e);
  w.endNest();
}

/** A set element: key bytes, and for a data map the value bytes. */
export interface NftSetElement {
  key: Uint8Array;
  data?: Uint8Array;
}

/** Builds one nfnetlink batch of nf_tables messages; each message asks for an ack. */
export class NftBatch {
  private readonly w = new NlWriter();
  private seq: number;
  /** What each message does, by sequence number, for error messages. */
  readonly described = new Map<number, string>();
  readonly firstSeq: number;

  constructor(firstSeq: number) {
    this.firstSeq = firstSeq >>> 0;
    this.seq = this.firstSeq;
    this.w.beginMessage(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, this.nextSeq(), 0, NFNL_SUBSYS_NFTABLES);
    this.w.endMessage();
  }

  private nextSeq(): number {
    const seq = this.seq;
    this.seq = (seq + 1) >>> 0;
    return seq;
  }

  /** Messages added so far (BEGIN excluded). */
  get messages(): number {
    return this.described.size;
  }

  get bytes(): number {
    return this.w.length;
  }

  /** NEWSETELEM (create, an identical existing element is no error) or DELSETELEM. */
  setElements(op: 'add' | 'delete', table: string, set: string, elements: readonly NftSetElement[]): number {
    const seq = this.nextSeq();
    const add = op === 'add';
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM), NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0), seq, NFPROTO_IPV4);
    this.w.str(NFTA_SET_ELEM_LIST_TABLE, table);
    this.w.str(NFTA_SET_ELEM_LIST_SET, set);
    this.w.beginNest(NFTA_SET_ELEM_LIST_ELEMENTS);
    for (const e of elements) {
      this.w.beginNest(NFTA_LIST_ELEM);
      dataValue(this.w, NFTA_SET_ELEM_KEY, e.key);
      if (add && e.data) dataValue(this.w, NFTA_SET_ELEM_DATA, e.data);
      this.w.endNest();
    }
    this.w.endNest();
    this.w.endMessage();
    this.described.set(seq, `${op} ${elements.length} element(s) of set ${table} ${set}`);
    return seq;
  }

  /** Map elements ct mark → IPv4 address (a `type mark : ipv4_addr` map), numbers in hand:
   *  a full table's 100,000 slots are encoded without an allocation each. */
  markToIpv4(table: string, set: string, entries: ReadonlyArray<readonly [mark: number, ipv4: number]>, setId?: number): number {
    const seq = this.nextSeq();
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq, NFPROTO_IPV4);
    this.w.str(NFTA_SET_ELEM_LIST_TABLE, table);
    this.w.str(NFTA_SET_ELEM_LIST_SET, set);
    // A set made earlier in the same batch is named by its id too, as nft does.
    if (setId !== undefined) this.w.u32(NFTA_SET_ELEM_LIST_SET_ID, setId);
    this.w.beginNest(NFTA_SET_ELEM_LIST_ELEMENTS);
    for (const [mark, ip] of entries) {
      this.w.beginNest(NFTA_LIST_ELEM);
      this.w.value32(NFTA_SET_ELEM_KEY, mark, 'le');
      this.w.value32(NFTA_SET_ELEM_DATA, ip, 'be');
      this.w.endNest();
    }
    this.w.endNest();
    this.w.endMessage();
    this.described.set(seq, `add ${entries.length} element(s) of set ${table} ${set}`);
    return seq;
  }

  /** NEWTABLE without NLM_F_EXCL: creates the table, or leaves an existing one as it is. */
  table(name: string): number {
    const seq = this.nextSeq();
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq, NFPROTO_IPV4);
    this.w.str(NFTA_TABLE_NAME, name);
    this.w.endMessage();
    this.described.set(seq, `add table ${name}`);
    return seq;
  }

  /** NEWSET of `map <name> { type mark : ipv4_addr; }`, attribute for attribute as nft sends it;
   *  its NFTA_SET_ID is the message's sequence number (returned). */
  markToIpv4Map(table: string, name: string): number {
    const seq = this.nextSeq();
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSET, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, seq, NFPROTO_IPV4);
    this.w.str(NFTA_SET_TABLE, table);
    this.w.str(NFTA_SET_NAME, name);
    this.w.u32(NFTA_SET_FLAGS, NFT_SET_MAP);
    this.w.u32(NFTA_SET_KEY_TYPE, NFT_TYPE_MARK);
    this.w.u32(NFTA_SET_KEY_LEN, 4);
    this.w.u32(NFTA_SET_DATA_TYPE, NFT_TYPE_IPADDR);
    this.w.u32(NFTA_SET_DATA_LEN, 4);
    this.w.u32(NFTA_SET_ID, seq);
    this.w.bytes(NFTA_SET_USERDATA, MARK_TO_IPV4_USERDATA);
    this.w.endMessage();
    this.described.set(seq, `add map ${table} ${name}`);
    return seq;
  }

  deleteSet(table: string, name: string): number {
    const seq = this.nextSeq();
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSET, NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_IPV4);
    this.w.str(NFTA_SET_TABLE, table);
    this.w.str(NFTA_SET_NAME, name);
    this.w.endMessage();
    this.described.set(seq, `delete set ${table} ${name}`);
    return seq;
  }

  /** NEWRULE replacing the rule `handle` of `chain` in place (the handle stays). */
  replaceRule(table: string, chain: string, handle: bigint, exprs: readonly NftExpr[]): number {
    const seq = this.nextSeq();
    this.w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE, seq, NFPROTO_IPV4);
    this.w.str(NFTA_RULE_TABLE, table);
    this.w.str(NFTA_RULE_CHAIN, chain);
    this.w.u64(NFTA_RULE_HANDLE, handle);
    writeExpressions(this.w, exprs);
    this.w.endMessage();
    this.described.set(seq, `replace rule ${table} ${chain} handle ${handle}`);
    return seq;
  }

  /** The batch, ended. */
  finish(): Buffer {
    this.w.beginMessage(NFNL_MSG_BATCH_END, NLM_F_REQUEST, this.nextSeq(), 0, NFNL_SUBSYS_NFTABLES);
    this.w.endMessage();
    return this.w.finish();
  }
}

/** GETRULE dump of one chain (not batched: dumps are read outside transactions). */
export function getRulesRequest(seq: number, table: string, chain: string): Buffer {
  const w = new NlWriter(128);
  w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_IPV4);
  w.str(NFTA_RULE_TABLE, table);
  w.str(NFTA_RULE_CHAIN, chain);
  w.endMessage();
  return w.finish();
}

/** A dump of `table`'s chains, sets or stateful objects (read with decodeTableObject). */
export function dumpRequest(seq: number, what: 'chains' | 'sets' | 'objects', table: string): Buffer {
  const type = what === 'chains' ? NFT_MSG_GETCHAIN : what === 'sets' ? NFT_MSG_GETSET : NFT_MSG_GETOBJ;
  const w = new NlWriter(128);
  w.beginMessage((NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_IPV4);
  w.str(1, table); // NFTA_CHAIN_TABLE = NFTA_SET_TABLE = NFTA_OBJ_TABLE = 1
  w.endMessage();
  return w.finish();
}

// ---- decoding ------------------------------------------------------------------------------





function cstr(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

export interface NftRule {
  table: string;
  chain: string;
  handle: bigint;
  /** NFTA_RULE_EXPRESSIONS' whole attribute (header included), comparable with encodeExpressions. */
  expressions: Buffer;
  exprs: NftExpr[];
}

function decodeExpr(name: string, data: Map<number, Buffer>): NftExpr | undefined {
  const u32 = (t: number): number | undefined => data.get(t)?.readUInt32BE(0);
  switch (name) {
    case 'payload': {
      const base = u32(NFTA_PAYLOAD_BASE);
      if (u32(NFTA_PAYLOAD_DREG) !== NFT_REG_1 || (base !== NFT_PAYLOAD_NETWORK_HEADER && base !== NFT_PAYLOAD_TRANSPORT_HEADER)) return undefined;
      return { kind: 'payload', base: base === NFT_PAYLOAD_NETWORK_HEADER ? 'network' : 'transport', offset: u32(NFTA_PAYLOAD_OFFSET) ?? -1, len: u32(NFTA_PAYLOAD_LEN) ?? -1 };
    }
    case 'cmp': {
      const value = data.get(NFTA_CMP_DATA) && attrs(data.get(NFTA_CMP_DATA)!).get(NFTA_DATA_VALUE);
      if (u32(NFTA_CMP_SREG) !== NFT_REG_1 || u32(NFTA_CMP_OP) !== NFT_CMP_EQ || !value) return undefined;
      return { kind: 'cmp-eq', data: Uint8Array.from(value) };
    }
    case 'meta':
      return u32(NFTA_META_KEY) === NFT_META_L4PROTO && u32(NFTA_META_DREG) === NFT_REG_1 ? { kind: 'meta-l4proto' } : undefined;
    case 'numgen':
      if (u32(NFTA_NG_TYPE) !== NFT_NG_INCREMENTAL || u32(NFTA_NG_DREG) !== NFT_REG_1) return undefined;
      return { kind: 'numgen-inc', modulus: u32(NFTA_NG_MODULUS) ?? 0, offset: u32(NFTA_NG_OFFSET) ?? 0 };
    case 'ct':
      return u32(NFTA_CT_KEY) === NFT_CT_MARK && u32(NFTA_CT_SREG) === NFT_REG_1 ? { kind: 'ct-mark-set' } : undefined;
    case 'immediate': {
      const verdict = data.get(NFTA_IMMEDIATE_DATA) && attrs(data.get(NFTA_IMMEDIATE_DATA)!).get(NFTA_DATA_VERDICT);
      const v = verdict && attrs(verdict);
      if (u32(NFTA_IMMEDIATE_DREG) !== NFT_REG_VERDICT || v?.get(NFTA_VERDICT_CODE)?.readInt32BE(0) !== NFT_GOTO) return undefined;
      const chain = cstr(v.get(NFTA_VERDICT_CHAIN));
      return chain === undefined ? undefined : { kind: 'goto', chain };
    }
    default:
      return undefined;
  }
}

/** A NEWRULE message (dump or echo); undefined for other messages. Expressions outside NftExpr
 *  decode as undefined entries' absence: compare `expressions` bytes to be exact. */
export function decodeRule(m: NlMessage): NftRule | undefined {
  if (m.type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)) return undefined;
  const body = m.payload.subarray(NFGENMSG_BYTES);
  const a = attrs(body);
  const handle = a.get(NFTA_RULE_HANDLE);
  if (!handle || handle.length !== 8) return undefined;
  let expressions: Buffer = Buffer.alloc(0);
  const exprs: NftExpr[] = [];
  for (let off = 0; off + 4 <= body.length; ) {
    const len = body.readUInt16LE(off);
    if (len < 4) break;
    if ((body.readUInt16LE(off + 2) & NLA_TYPE_MASK) === NFTA_RULE_EXPRESSIONS) {
      expressions = body.subarray(off, off + len);
      for (const [, elem] of attrList(expressions.subarray(4))) {
        const e = attrs(elem);
        const decoded = decodeExpr(cstr(e.get(NFTA_EXPR_NAME)) ?? '', attrs(e.get(NFTA_EXPR_DATA) ?? Buffer.alloc(0)));
        if (decoded) exprs.push(decoded);
      }
    }
    off += (len + 3) & ~3;
  }
  return { table: cstr(a.get(NFTA_RULE_TABLE)) ?? '', chain: cstr(a.get(NFTA_RULE_CHAIN)) ?? '', handle: handle.readBigUInt64BE(0), expressions, exprs };
}

/** A chain, set or object of a table, from a dump: what it takes to delete it by name. */
export type NftTableObject =
  | { kind: 'chain'; table: string; name: string }
  | { kind: 'set'; table: string; name: string; anonymous: boolean; map: boolean }
  | { kind: 'object'; table: string; name: string; type: number };

export function decodeTableObject(m: NlMessage): NftTableObject | undefined {
  if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES) return undefined;
  const a = attrs(m.payload.subarray(NFGENMSG_BYTES));
  switch (m.type & 0xff) {
    case NFT_MSG_NEWCHAIN:
      return { kind: 'chain', table: cstr(a.get(NFTA_CHAIN_TABLE)) ?? '', name: cstr(a.get(NFTA_CHAIN_NAME)) ?? '' };
    case NFT_MSG_NEWSET: {
      const flags = a.get(NFTA_SET_FLAGS)?.readUInt32BE(0) ?? 0;
      return { kind: 'set', table: cstr(a.get(NFTA_SET_TABLE)) ?? '', name: cstr(a.get(NFTA_SET_NAME)) ?? '', anonymous: (flags & NFT_SET_ANONYMOUS) !== 0, map: (flags & NFT_SET_MAP) !== 0 };
    }
    case NFT_MSG_NEWOBJ:
      return { kind: 'object', table: cstr(a.get(NFTA_OBJ_TABLE)) ?? '', name: cstr(a.get(NFTA_OBJ_NAME)) ?? '', type: a.get(NFTA_OBJ_TYPE)?.readUInt32BE(0) ?? 0 };
    default:
      return undefined;
  }
}

export interface NlAck {
  seq: number;
  /** 0 or a negative errno. */
  error: number;
  /** The kernel's extended-ack text, when it gave one. */
  message: string | undefined;
}

/** NLMSG_ERROR messages (acks and errors) and NLMSG_DONE; null for anything else. */
export function decodeAck(m: NlMessage): NlAck | null {
  if (m.type === NLMSG_DONE) return { seq: m.seq, error: m.payload.length >= 4 ? m.payload.readInt32LE(0) : 0, message: undefined };
  if (m.type !== NLMSG_ERROR || m.payload.length < 4) return null;
  const error = m.payload.readInt32LE(0);
  let message: string | undefined;
  if (m.flags & NLM_F_ACK_TLVS && m.payload.length >= 4 + NLMSG_HEADER_BYTES) {
    // Capped acks carry only the header of the request; the TLVs follow it.
    message = cstr(attrs(m.payload.subarray(4 + NLMSG_HEADER_BYTES)).get(NLMSGERR_ATTR_MSG));
  }
  return { seq: m.seq, error, message };
}

/** The 4 bytes of an IPv4 address, network order. */
export function ipv4Bytes(ip: string): Uint8Array {
  const p = ip.split('.');
  return Uint8Array.of(Number(p[0]), Number(p[1]), Number(p[2]), Number(p[3]));
}

/** A ct mark as nf_tables holds it: host order (little-endian on every machine berth runs on). */
export function markBytes(mark: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(mark >>> 0);
  return b;
}

/** A port as the transport header holds it: network order. */
export function portBytes(port: number): Uint8Array {
  return Uint8Array.of(port >> 8, port & 255);
}
