// The generic-netlink messages berth exchanges with the kernel's IPVS family, as plain Buffers:
// nlmsghdr (16 bytes) + genlmsghdr (4 bytes) + attributes. Pure: no sockets, no state.
//
// Wire facts (include/uapi/linux/ip_vs.h, genetlink.h; net/netfilter/ipvs/ip_vs_ctl.c's policy):
// - Numbers are host order (little-endian here), except IPVS's PORT and NETMASK (network order).
// - ADDR is 16 bytes whatever the family (an IPv4 address fills the first 4).
// - FLAGS is `struct ip_vs_flags { u32 flags; u32 mask; }`.
// - Nested attributes carry no NLA_F_NESTED bit: the kernel nests with nla_nest_start_noflag and
//   parses with the deprecated (lenient) parser.
// - A new or changed service needs SCHED_NAME, FLAGS, TIMEOUT and NETMASK; a service is otherwise
//   named by AF + FWMARK. A destination is always named by ADDR + PORT; a new or changed one also
//   needs FWD_METHOD, WEIGHT, U_THRESH and L_THRESH.
// - One dump per datagram: a socket runs one dump at a time and a second one started before the
//   first ended fails with EBUSY.
import { getSystemErrorName } from 'node:util';
import { NLMSG_HEADER_BYTES, nla, parseAttrs, splitMessages, type NetlinkMessage } from '../netlink.js';

export { NLMSG_HEADER_BYTES, parseAttrs, splitMessages, type NetlinkMessage };

export const NETLINK_GENERIC = 16;
export const GENL_ID_CTRL = 0x10;
export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;
const CTRL_GENL_VERSION = 2;

export const GENL_HEADER_BYTES = 4;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;

export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  SET_CONFIG: 12,
} as const;

export const IPVS_CMD_ATTR = { SERVICE: 1, DEST: 2, TIMEOUT_TCP: 4, TIMEOUT_TCP_FIN: 5, TIMEOUT_UDP: 6 } as const;

export const IPVS_SVC_ATTR = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9 } as const;

export const IPVS_DEST_ATTR = {
  ADDR: 1,
  PORT: 2,
  FWD_METHOD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  ADDR_FAMILY: 11,
} as const;

export const AF_INET = 2;
/** IP_VS_CONN_F_MASQ: NAT toward the real server, as Docker's (non-DSR) load balancers use. */
export const IP_VS_CONN_F_MASQ = 0;
const IPVS_ADDR_BYTES = 16;
const FULL_NETMASK = 0xffffffff;

/** Weighted round robin: the spec's weights are honoured (Docker uses rr, where all weigh 1). */
export const DEFAULT_SCHEDULER = 'wrr';

// ---- encoding ----


function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/** An IPv4 address (unsigned 32-bit number) in IPVS's 16-byte ADDR. */
function ipvsAddr(ipv4: number): Buffer {
  const b = Buffer.alloc(IPVS_ADDR_BYTES);
  b.writeUInt32BE(ipv4 >>> 0, 0);
  return b;
}

export interface GenlRequest {
  /** The family id (GENL_ID_CTRL or the resolved IPVS id). */
  family: number;
  cmd: number;
  version: number;
  /** NLM_F_* beyond NLM_F_REQUEST (ACK for changes, DUMP for listings). */
  flags: number;
  seq: number;
  attrs: readonly Buffer[];
}

/** One netlink message: nlmsghdr + genlmsghdr + the attributes, padded to 4 bytes. */
export function encodeGenl(r: GenlRequest): Buffer {
  const attrs = Buffer.concat(r.attrs);
  const len = NLMSG_HEADER_BYTES + GENL_HEADER_BYTES + attrs.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(r.family, 4);
  out.writeUInt16LE(r.flags | NLM_F_REQUEST, 6);
  out.writeUInt32LE(r.seq >>> 0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt8(r.cmd, NLMSG_HEADER_BYTES);
  out.writeUInt8(r.version, NLMSG_HEADER_BYTES + 1);
  attrs.copy(out, NLMSG_HEADER_BYTES + GENL_HEADER_BYTES);
  return out;
}

/** CTRL_CMD_GETFAMILY for `name` (acked, so the transaction waits for the answer). */
export function getFamilyRequest(seq: number, name: string = IPVS_GENL_NAME): Buffer {
  return encodeGenl({ family: GENL_ID_CTRL, cmd: CTRL_CMD_GETFAMILY, version: CTRL_GENL_VERSION, flags: NLM_F_ACK, seq, attrs: [nla(CTRL_ATTR_FAMILY_NAME, cstr(name))] });
}

/** The attributes that name a fwmark service. */
function serviceIdAttrs(fwmark: number): Buffer[] {
  return [nla(IPVS_SVC_ATTR.AF, u16(AF_INET)), nla(IPVS_SVC_ATTR.FWMARK, u32(fwmark))];
}

function serviceAttr(fwmark: number, scheduler?: string): Buffer {
  const attrs = serviceIdAttrs(fwmark);
  if (scheduler !== undefined) {
    attrs.push(
      nla(IPVS_SVC_ATTR.SCHED_NAME, cstr(scheduler)),
      nla(IPVS_SVC_ATTR.FLAGS, Buffer.concat([u32(0), u32(0)])),
      nla(IPVS_SVC_ATTR.TIMEOUT, u32(0)),
      nla(IPVS_SVC_ATTR.NETMASK, be32(FULL_NETMASK)),
    );
  }
  return nla(IPVS_CMD_ATTR.SERVICE, Buffer.concat(attrs));
}

function destAttr(ipv4: number, weight?: number): Buffer {
  const attrs = [nla(IPVS_DEST_ATTR.ADDR, ipvsAddr(ipv4)), nla(IPVS_DEST_ATTR.PORT, be16(0))];
  if (weight !== undefined) {
    attrs.push(
      nla(IPVS_DEST_ATTR.FWD_METHOD, u32(IP_VS_CONN_F_MASQ)),
      nla(IPVS_DEST_ATTR.WEIGHT, u32(weight)),
      nla(IPVS_DEST_ATTR.U_THRESH, u32(0)),
      nla(IPVS_DEST_ATTR.L_THRESH, u32(0)),
      nla(IPVS_DEST_ATTR.ADDR_FAMILY, u16(AF_INET)),
    );
  }
  return nla(IPVS_CMD_ATTR.DEST, Buffer.concat(attrs));
}

function ipvs(family: number, seq: number, cmd: number, flags: number, attrs: Buffer[]): Buffer {
  return encodeGenl({ family, cmd, version: IPVS_GENL_VERSION, flags, seq, attrs });
}

export function newServiceRequest(family: number, seq: number, fwmark: number, scheduler: string = DEFAULT_SCHEDULER): Buffer {
  return ipvs(family, seq, IPVS_CMD.NEW_SERVICE, NLM_F_ACK, [serviceAttr(fwmark, scheduler)]);
}

export function delServiceRequest(family: number, seq: number, fwmark: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.DEL_SERVICE, NLM_F_ACK, [serviceAttr(fwmark)]);
}

/** Every service of the namespace (berth's and anyone else's). */
export function dumpServicesRequest(family: number, seq: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.GET_SERVICE, NLM_F_DUMP, []);
}

/** `ipv4` as an unsigned 32-bit number; port 0 (a fwmark service keeps the packet's port). */
export function newDestRequest(family: number, seq: number, fwmark: number, ipv4: number, weight: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.NEW_DEST, NLM_F_ACK, [serviceAttr(fwmark), destAttr(ipv4, weight)]);
}

export function setDestRequest(family: number, seq: number, fwmark: number, ipv4: number, weight: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.SET_DEST, NLM_F_ACK, [serviceAttr(fwmark), destAttr(ipv4, weight)]);
}

export function delDestRequest(family: number, seq: number, fwmark: number, ipv4: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.DEL_DEST, NLM_F_ACK, [serviceAttr(fwmark), destAttr(ipv4)]);
}

export function dumpDestsRequest(family: number, seq: number, fwmark: number): Buffer {
  return ipvs(family, seq, IPVS_CMD.GET_DEST, NLM_F_DUMP, [serviceAttr(fwmark)]);
}

export interface IpvsTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/** The namespace's IPVS idle timeouts, in seconds (0 would leave one unchanged). */
export function setConfigRequest(family: number, seq: number, t: IpvsTimeouts): Buffer {
  return ipvs(family, seq, IPVS_CMD.SET_CONFIG, NLM_F_ACK, [
    nla(IPVS_CMD_ATTR.TIMEOUT_TCP, u32(t.tcp)),
    nla(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN, u32(t.tcpFin)),
    nla(IPVS_CMD_ATTR.TIMEOUT_UDP, u32(t.udp)),
  ]);
}

// ---- decoding ----




/** The attributes of a generic-netlink message (after genlmsghdr). */
function genlAttrs(m: NetlinkMessage): Map<number, Buffer> {
  return parseAttrs(m.payload.subarray(GENL_HEADER_BYTES));
}

function readU16(b: Buffer | undefined): number | undefined {
  return b && b.length >= 2 ? b.readUInt16LE(0) : undefined;
}

function readU32(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

function readCstr(b: Buffer | undefined): string | undefined {
  return b?.toString('utf8').replace(/\0+$/, '');
}

export interface NetlinkFailure {
  seq: number;
  /** Positive errno. */
  errno: number;
  errnoName: string;
  /** The kernel's extended-ack message, when it gave one. */
  message: string | undefined;
}

export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** Every NLMSG_ERROR carrying a negative errno (acks of 0 are successes), in arrival order. */
export function failures(messages: readonly NetlinkMessage[]): NetlinkFailure[] {
  const out: NetlinkFailure[] = [];
  for (const m of messages) {
    if (m.type !== NLMSG_ERROR || m.payload.length < 4) continue;
    const errno = -m.payload.readInt32LE(0);
    if (errno <= 0) continue;
    let message: string | undefined;
    // A capped ack echoes only the request's header; the extended-ack TLVs follow it.
    const tlvStart = 4 + NLMSG_HEADER_BYTES;
    if (m.flags & NLM_F_ACK_TLVS && m.payload.length > tlvStart) message = readCstr(parseAttrs(m.payload.subarray(tlvStart)).get(NLMSGERR_ATTR_MSG));
    out.push({ seq: m.seq, errno, errnoName: errnoName(errno), message });
  }
  return out;
}

/** The family id from a CTRL_CMD_GETFAMILY reply; undefined when the reply has none. */
export function parseFamilyId(messages: readonly NetlinkMessage[]): number | undefined {
  for (const m of messages) {
    if (m.type !== GENL_ID_CTRL) continue;
    const id = readU16(genlAttrs(m).get(CTRL_ATTR_FAMILY_ID));
    if (id !== undefined) return id;
  }
  return undefined;
}

export interface IpvsServiceView {
  af: number | undefined;
  /** Set for a fwmark service; undefined for an address:port one. */
  fwmark: number | undefined;
  scheduler: string | undefined;
}

/** Services from a GET_SERVICE dump (messages of any other kind are skipped). */
export function parseServices(messages: readonly NetlinkMessage[], family: number): IpvsServiceView[] {
  const out: IpvsServiceView[] = [];
  for (const m of messages) {
    if (m.type !== family || m.payload[0] !== IPVS_CMD.NEW_SERVICE) continue;
    const svc = genlAttrs(m).get(IPVS_CMD_ATTR.SERVICE);
    if (!svc) continue;
    const a = parseAttrs(svc);
    const fwmark = readU32(a.get(IPVS_SVC_ATTR.FWMARK));
    out.push({ af: readU16(a.get(IPVS_SVC_ATTR.AF)), fwmark: fwmark === 0 ? undefined : fwmark, scheduler: readCstr(a.get(IPVS_SVC_ATTR.SCHED_NAME)) });
  }
  return out;
}

export interface IpvsDestView {
  /** IPv4 as an unsigned 32-bit number (the first 4 bytes of ADDR). */
  addr: number;
  port: number | undefined;
  weight: number | undefined;
  fwdMethod: number | undefined;
  activeConns: number | undefined;
  inactiveConns: number | undefined;
}

/** Destinations from a GET_DEST dump. */
export function parseDests(messages: readonly NetlinkMessage[], family: number): IpvsDestView[] {
  const out: IpvsDestView[] = [];
  for (const m of messages) {
    if (m.type !== family || m.payload[0] !== IPVS_CMD.NEW_DEST) continue;
    const dest = genlAttrs(m).get(IPVS_CMD_ATTR.DEST);
    if (!dest) continue;
    const a = parseAttrs(dest);
    const addr = a.get(IPVS_DEST_ATTR.ADDR);
    if (!addr || addr.length < 4) continue;
    const port = a.get(IPVS_DEST_ATTR.PORT);
    out.push({
      addr: addr.readUInt32BE(0),
      port: port && port.length >= 2 ? port.readUInt16BE(0) : undefined,
      weight: readU32(a.get(IPVS_DEST_ATTR.WEIGHT)),
      fwdMethod: readU32(a.get(IPVS_DEST_ATTR.FWD_METHOD)),
      activeConns: readU32(a.get(IPVS_DEST_ATTR.ACTIVE_CONNS)),
      inactiveConns: readU32(a.get(IPVS_DEST_ATTR.INACT_CONNS)),
    });
  }
  return out;
}

/** Test helper and documentation of the reply shape: one dump entry as the kernel would send it. */
export function encodeReply(family: number, seq: number, cmd: number, attrs: readonly Buffer[], flags = NLM_F_MULTI): Buffer {
  const out = encodeGenl({ family, cmd, version: IPVS_GENL_VERSION, flags: 0, seq, attrs });
  out.writeUInt16LE(flags, 6);
  return out;
}

/** Attribute encoder, exported for building replies in tests. */
export const attr = { nla, u16, u32, be16, be32, cstr, ipvsAddr } as const;
