// Netlink message framing shared by every hand-written codec in netd: rtnetlink attributes the
// `netlink` package leaves raw (overlay/rtnl.ts, overlay/gateway.ts), generic-netlink IPVS
// (vip/ipvs-codec.ts) and nf_tables (vip/nfnetlink.ts). Pure.

export const NLMSG_HEADER_BYTES = 16;
export const NLA_HEADER_BYTES = 4;
/** The attribute type without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. */
export const NLA_TYPE_MASK = 0x3fff;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the 16-byte nlmsghdr. */
  payload: Buffer;
}

/** One attribute: length, type, payload padded to 4 bytes. */
export function nla(type: number, payload: Uint8Array): Buffer {
  const len = NLA_HEADER_BYTES + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(payload, NLA_HEADER_BYTES);
  return out;
}

/** Attributes in order (repeated types kept: list nests); a truncated tail is ignored. */
export function attrList(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let off = 0; off + NLA_HEADER_BYTES <= buf.length; ) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HEADER_BYTES || off + len > buf.length) break;
    out.push([buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HEADER_BYTES, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

/** Attributes by type (the last one wins). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  return new Map(attrList(buf));
}

/** Splits reply datagrams into messages; a truncated tail is ignored. */
export function splitMessages(datagrams: readonly Buffer[]): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  for (const d of datagrams) {
    for (let off = 0; off + NLMSG_HEADER_BYTES <= d.length; ) {
      const len = d.readUInt32LE(off);
      if (len < NLMSG_HEADER_BYTES || off + len > d.length) break;
      out.push({ type: d.readUInt16LE(off + 4), flags: d.readUInt16LE(off + 6), seq: d.readUInt32LE(off + 8), payload: d.subarray(off + NLMSG_HEADER_BYTES, off + len) });
      off += (len + 3) & ~3;
    }
  }
  return out;
}
