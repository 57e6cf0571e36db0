// DNS queries as a stub resolver sends them, and the rcode of a reply: for the DNS tests (the
// embedded server only ever parses queries and writes responses).
import { CLASS_IN, Flag, HEADER_LEN, RRType } from '../../dns/wire.js';

/** An OPT pseudo-RR with the root name: name (1) + type (2) + class (2) + TTL (4) + RDLENGTH (2). */
const OPT_RR_LEN = 11;
const RCODE_MASK = 0x000f;

/** One question of `type` for `name`; RD set unless `rd: false`; an OPT record when `edns` (its UDP size). */
export function encodeQuery(id: number, name: string, type: number, opts: { rd?: boolean; edns?: number } = {}): Buffer {
  const labels = name === '' ? [] : name.split('.');
  const nameLen = labels.reduce((n, l) => n + 1 + Buffer.byteLength(l, 'latin1'), 1);
  const buf = Buffer.alloc(HEADER_LEN + nameLen + 4 + (opts.edns ? OPT_RR_LEN : 0));
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(opts.rd === false ? 0 : Flag.RD, 2);
  buf.writeUInt16BE(1, 4);
  if (opts.edns) buf.writeUInt16BE(1, 10);
  let off = HEADER_LEN;
  for (const l of labels) {
    const len = Buffer.byteLength(l, 'latin1');
    buf[off] = len;
    buf.write(l, off + 1, 'latin1');
    off += 1 + len;
  }
  buf[off++] = 0;
  buf.writeUInt16BE(type, off);
  buf.writeUInt16BE(CLASS_IN, off + 2);
  off += 4;
  if (opts.edns) {
    buf[off] = 0;
    buf.writeUInt16BE(RRType.OPT, off + 1);
    buf.writeUInt16BE(opts.edns, off + 3);
  }
  return buf;
}

export function rcodeOf(reply: Buffer): number {
  return reply.readUInt16BE(2) & RCODE_MASK;
}
