// The DNS wire codec for the hot path (RFC 1035, RFC 6891 EDNS0, RFC 2782 SRV): parses one
// query and encodes answers into a reused scratch buffer, copying out only the final bytes.
// Generic packet libraries build an object tree per message; that is what held dns2 to a
// tenth of a raw responder's rate, so nothing here allocates more than the name string,
// the parsed query and the reply buffer.

export const HEADER_LEN = 12;
const MAX_LABEL_LEN = 63;
/** Wire length of a name, length octets and root included (RFC 1035 2.3.4). */
const MAX_NAME_WIRE_LEN = 255;
export const MAX_MESSAGE_LEN = 65535;
/** UDP payload a client without EDNS may receive (RFC 1035 4.2.1). */
export const PLAIN_UDP_MAX = 512;
/**
 * Largest UDP payload berth sends and the size it advertises. The listeners sit on loopback
 * inside the sandbox (MTU 65536), so fragmentation is not the concern it is on the wire; 4096
 * is the common ceiling of stub resolvers and keeps dnsrr answers with ~250 tasks in one datagram.
 */
export const EDNS_UDP_MAX = 4096;
const OPT_RR_LEN = 11;
const POINTER_MASK = 0xc0;
const POINTER_MAX_OFFSET = 0x3fff;
const QUESTION_NAME_POINTER = 0xc000 | HEADER_LEN;
/** Answers and additionals are cut to fit the client's size; nothing legitimate needs more. */
const MAX_RECORDS_PER_SECTION = 4096;

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const RCode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended rcode (RFC 6891): upper 8 bits travel in the OPT record. */
  BADVERS: 16,
} as const;

export const CLASS_IN = 1;
export const OPCODE_QUERY = 0;

export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  CD: 0x0010,
} as const;
const OPCODE_MASK = 0x7800;
const OPCODE_SHIFT = 11;
const RCODE_MASK = 0x000f;
const DO_BIT = 0x8000;

export interface Edns {
  /** Requester's UDP payload size as sent (values below 512 count as 512, RFC 6891 6.2.3). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  /** The header's flags word as received. */
  flags: number;
  opcode: number;
  /** Lower-cased, without the trailing dot; '' is the root. */
  name: string;
  /**
   * False when a label holds a byte with no plain text form ('.', space, control or 8-bit):
   * such names can never be in the name table and are only forwarded, byte for byte.
   */
  plainName: boolean;
  type: number;
  class: number;
  /** Offset just past the question: [HEADER_LEN, questionEnd) is copied into every reply. */
  questionEnd: number;
  edns: Edns | undefined;
}

/** Why a datagram was dropped; each is counted separately by the server. */
export type Malformed =
  | 'short-header'
  | 'response'
  | 'question-count'
  | 'bad-name'
  | 'short-question'
  | 'bad-record'
  | 'bad-opt';

const NAME_SCRATCH = Buffer.allocUnsafe(MAX_NAME_WIRE_LEN);

/** Reads the question name at off (no compression allowed there); returns the end offset or -1. */
function readQuestionName(msg: Buffer, off: number, out: { name: string; plain: boolean }): number {
  let n = 0;
  let plain = true;
  let wire = 0;
  for (;;) {
    if (off >= msg.length) return -1;
    const len = msg[off]!;
    off += 1;
    wire += 1;
    if (len === 0) break;
    // A pointer (or the reserved 0x40/0x80 label types) cannot occur in the first name of a message.
    if (len > MAX_LABEL_LEN) return -1;
    wire += len;
    if (wire > MAX_NAME_WIRE_LEN - 1 || off + len > msg.length) return -1;
    if (n > 0) NAME_SCRATCH[n++] = 0x2e;
    for (let i = 0; i < len; i++) {
      let c = msg[off + i]!;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      else if (c <= 0x20 || c === 0x2e || c >= 0x7f) plain = false;
      NAME_SCRATCH[n++] = c;
    }
    off += len;
  }
  out.name = NAME_SCRATCH.toString('latin1', 0, n);
  out.plain = plain;
  return off;
}

/** Skips a possibly compressed name in a record; returns the end offset or -1. */
export function skipName(msg: Buffer, off: number): number {
  let wire = 0;
  for (;;) {
    if (off >= msg.length) return -1;
    const len = msg[off]!;
    if (len === 0) return off + 1;
    if ((len & POINTER_MASK) === POINTER_MASK) return off + 2 <= msg.length ? off + 2 : -1;
    if (len > MAX_LABEL_LEN) return -1;
    wire += len + 1;
    if (wire > MAX_NAME_WIRE_LEN) return -1;
    off += len + 1;
  }
}

const nameOut = { name: '', plain: true };

/**
 * Parses a query. Returns a reason string for anything that is not a well-formed query with
 * exactly one question; such datagrams get no reply (answering garbage helps reflection attacks).
 */
export function parseQuery(msg: Buffer): Query | Malformed {
  if (msg.length < HEADER_LEN) return 'short-header';
  const flags = msg.readUInt16BE(2);
  if ((flags & Flag.QR) !== 0) return 'response';
  if (msg.readUInt16BE(4) !== 1) return 'question-count';
  const ancount = msg.readUInt16BE(6);
  const nscount = msg.readUInt16BE(8);
  const arcount = msg.readUInt16BE(10);
  let off = readQuestionName(msg, HEADER_LEN, nameOut);
  if (off < 0) return 'bad-name';
  if (off + 4 > msg.length) return 'short-question';
  const type = msg.readUInt16BE(off);
  const klass = msg.readUInt16BE(off + 2);
  off += 4;
  const questionEnd = off;
  let edns: Edns | undefined;
  const total = ancount + nscount + arcount;
  for (let i = 0; i < total; i++) {
    const nameStart = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > msg.length) return 'bad-record';
    const rrType = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (off + 10 + rdlen > msg.length) return 'bad-record';
    if (rrType === RRType.OPT) {
      // RFC 6891 6.1.1: only one OPT, only in the additional section, owned by the root.
      if (edns || i < ancount + nscount || msg[nameStart] !== 0) return 'bad-opt';
      const ttl = msg.readUInt32BE(off + 4);
      edns = {
        udpSize: Math.max(PLAIN_UDP_MAX, msg.readUInt16BE(off + 2)),
        version: (ttl >>> 16) & 0xff,
        dnssecOk: (ttl & DO_BIT) !== 0,
      };
    }
    off += 10 + rdlen;
  }
  return {
    id: msg.readUInt16BE(0),
    flags,
    opcode: (flags & OPCODE_MASK) >>> OPCODE_SHIFT,
    name: nameOut.name,
    plainName: nameOut.plain,
    type,
    class: klass,
    questionEnd,
    edns,
  };
}

/** Largest reply the client accepts over UDP: its EDNS size capped by ours, else 512. */
export function udpLimit(q: Query): number {
  return q.edns ? Math.min(q.edns.udpSize, EDNS_UDP_MAX) : PLAIN_UDP_MAX;
}

// ---- records and encoding ----

export interface AddressRecord {
  type: typeof RRType.A | typeof RRType.AAAA;
  /** Owner name; undefined means the question's name (written as a pointer to it). */
  name?: string | undefined;
  ttl: number;
  /** 4 bytes for A, 16 for AAAA. */
  address: Uint8Array;
}

export interface PtrRecord {
  type: typeof RRType.PTR;
  name?: string | undefined;
  ttl: number;
  target: string;
}

export interface SrvRecord {
  type: typeof RRType.SRV;
  name?: string | undefined;
  ttl: number;
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export type ResourceRecord = AddressRecord | PtrRecord | SrvRecord;

const OUT = Buffer.allocUnsafe(MAX_MESSAGE_LEN);
/** Suffix (lower case) → offset of a name already written; rebuilt per message, small. */
const compression = new Map<string, number>();

function seedCompression(msg: Buffer, q: Query): void {
  compression.clear();
  if (!q.plainName || q.name === '') return;
  // Each label start in the question is a suffix later names may point at.
  let off = HEADER_LEN;
  let rest = q.name;
  while (msg[off]! !== 0) {
    compression.set(rest, off);
    const dot = rest.indexOf('.');
    rest = dot < 0 ? '' : rest.slice(dot + 1);
    off += msg[off]! + 1;
  }
}

/** Writes name (text form, no trailing dot) at off with compression; returns the end or -1 on overflow. */
function writeName(name: string, off: number, limit: number): number {
  let rest = name.toLowerCase();
  let original = name;
  while (rest !== '') {
    const ptr = compression.get(rest);
    if (ptr !== undefined) {
      if (off + 2 > limit) return -1;
      OUT.writeUInt16BE(0xc000 | ptr, off);
      return off + 2;
    }
    if (off <= POINTER_MAX_OFFSET) compression.set(rest, off);
    const dot = original.indexOf('.');
    const label = dot < 0 ? original : original.slice(0, dot);
    const len = Buffer.byteLength(label, 'latin1');
    if (len === 0 || len > MAX_LABEL_LEN || off + 1 + len > limit) return -1;
    OUT[off] = len;
    OUT.write(label, off + 1, len, 'latin1');
    off += 1 + len;
    original = dot < 0 ? '' : original.slice(dot + 1);
    rest = dot < 0 ? '' : rest.slice(dot + 1);
  }
  if (off + 1 > limit) return -1;
  OUT[off] = 0;
  return off + 1;
}

/** Writes one record at off; returns its end, or -1 when it does not fit below limit. */
function writeRecord(rr: ResourceRecord, off: number, limit: number): number {
  if (rr.name === undefined) {
    if (off + 2 > limit) return -1;
    OUT.writeUInt16BE(QUESTION_NAME_POINTER, off);
    off += 2;
  } else {
    off = writeName(rr.name, off, limit);
    if (off < 0) return -1;
  }
  if (off + 10 > limit) return -1;
  OUT.writeUInt16BE(rr.type, off);
  OUT.writeUInt16BE(CLASS_IN, off + 2);
  OUT.writeUInt32BE(rr.ttl >>> 0, off + 4);
  const rdlenAt = off + 8;
  off += 10;
  switch (rr.type) {
    case RRType.A:
    case RRType.AAAA: {
      const n = rr.address.length;
      if (off + n > limit) return -1;
      OUT.set(rr.address, off);
      off += n;
      break;
    }
    case RRType.PTR:
      off = writeName(rr.target, off, limit);
      break;
    case RRType.SRV:
      if (off + 6 > limit) return -1;
      OUT.writeUInt16BE(rr.priority, off);
      OUT.writeUInt16BE(rr.weight, off + 2);
      OUT.writeUInt16BE(rr.port, off + 4);
      off = writeName(rr.target, off + 6, limit);
      break;
  }
  if (off < 0) return -1;
  OUT.writeUInt16BE(off - rdlenAt - 2, rdlenAt);
  return off;
}

function writeHeader(msg: Buffer, q: Query, rcode: number, extraFlags: number): number {
  OUT.writeUInt16BE(q.id, 0);
  const flags = Flag.QR | (q.flags & (OPCODE_MASK | Flag.RD | Flag.CD)) | Flag.RA | extraFlags | (rcode & RCODE_MASK);
  OUT.writeUInt16BE(flags, 2);
  OUT.writeUInt16BE(1, 4);
  OUT.writeUInt32BE(0, 6); // ANCOUNT, NSCOUNT
  OUT.writeUInt16BE(0, 10);
  msg.copy(OUT, HEADER_LEN, HEADER_LEN, q.questionEnd);
  return q.questionEnd;
}

function writeOpt(off: number, rcode: number): number {
  OUT[off] = 0;
  OUT.writeUInt16BE(RRType.OPT, off + 1);
  OUT.writeUInt16BE(EDNS_UDP_MAX, off + 3);
  OUT.writeUInt32BE(((rcode >>> 4) & 0xff) << 24, off + 5); // extended rcode, version 0, no DO
  OUT.writeUInt16BE(0, off + 9);
  return off + OPT_RR_LEN;
}

function copyOut(len: number): Buffer {
  const reply = Buffer.allocUnsafe(len);
  OUT.copy(reply, 0, 0, len);
  return reply;
}

export interface EncodeOptions {
  rcode: number;
  authoritative: boolean;
  answers: readonly ResourceRecord[];
  additionals?: readonly ResourceRecord[];
  /** Reply size limit: udpLimit(q) for UDP, MAX_MESSAGE_LEN for TCP. */
  maxSize: number;
}

/**
 * Encodes a reply to q (whose bytes are msg). Records that do not fit are cut at a record
 * boundary: additionals first (no TC needed, RFC 2181 9), then answers with TC set so the
 * client retries over TCP. The OPT record, when the client sent one, always fits.
 */
export function encodeResponse(msg: Buffer, q: Query, o: EncodeOptions): Buffer {
  seedCompression(msg, q);
  const optLen = q.edns ? OPT_RR_LEN : 0;
  const limit = Math.min(o.maxSize, MAX_MESSAGE_LEN) - optLen;
  let off = writeHeader(msg, q, o.rcode, o.authoritative ? Flag.AA : 0);
  let truncated = false;
  let answers = 0;
  let additionals = 0;
  const an = o.answers;
  for (let i = 0; i < an.length && i < MAX_RECORDS_PER_SECTION; i++) {
    const end = writeRecord(an[i]!, off, limit);
    if (end < 0) {
      truncated = true;
      break;
    }
    off = end;
    answers++;
  }
  const ad = o.additionals;
  if (!truncated && ad) {
    for (let i = 0; i < ad.length && i < MAX_RECORDS_PER_SECTION; i++) {
      const end = writeRecord(ad[i]!, off, limit);
      if (end < 0) break;
      off = end;
      additionals++;
    }
  }
  if (q.edns) {
    off = writeOpt(off, o.rcode);
    additionals++;
  }
  OUT.writeUInt16BE(answers, 6);
  OUT.writeUInt16BE(additionals, 10);
  if (truncated) OUT.writeUInt16BE(OUT.readUInt16BE(2) | Flag.TC, 2);
  return copyOut(off);
}

/** A reply with no records: errors (SERVFAIL, NOTIMP, REFUSED, BADVERS) and NXDOMAIN/NODATA. */
export function encodeEmpty(msg: Buffer, q: Query, rcode: number, authoritative = false): Buffer {
  return encodeResponse(msg, q, { rcode, authoritative, answers: [], maxSize: MAX_MESSAGE_LEN });
}

/**
 * The reply for a forwarded answer that exceeds the client's UDP limit: the upstream's header
 * (rcode, flags) with TC set and the question only, so the client repeats the query over TCP.
 */
export function encodeTruncated(msg: Buffer, q: Query, upstream: Buffer): Buffer {
  let off = writeHeader(msg, q, upstream.readUInt16BE(2) & RCODE_MASK, Flag.TC | (upstream.readUInt16BE(2) & (Flag.AA | 0x0020)));
  if (q.edns) {
    off = writeOpt(off, 0);
    OUT.writeUInt16BE(1, 10);
  }
  return copyOut(off);
}

// ---- helpers for the forwarder and tests ----

/**
 * True when reply answers query: same id and the same question bytes. Upstreams echo the
 * question as sent (RFC 1035 7.3), which also keeps 0x20 case randomisation checkable.
 */
export function replyMatches(reply: Buffer, query: Buffer, questionEnd: number): boolean {
  if (reply.length < questionEnd || (reply.readUInt16BE(2) & Flag.QR) === 0) return false;
  if (reply.readUInt16BE(4) !== 1) return false;
  return reply.compare(query, HEADER_LEN, questionEnd, HEADER_LEN, questionEnd) === 0;
}
