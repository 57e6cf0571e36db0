// rtnetlink inside any namespace: the `netlink` package's typed RtNetlinkSocket, carried over a
// socket that native/ opened inside the target namespace. Requests issued in the same turn of
// the event loop leave in one datagram and their acks come back in one pool-thread round trip,
// so programming thousands of entries costs a handful of system calls.
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { AttrStream, NetlinkSocket, RtNetlinkSocket, ifla, rt, type RawNetlinkSocket } from 'netlink';
import { netlinkTransact, openNetlinkInNetns } from '../../native/index.js';
import { NetdError, NetlinkOperationError } from '../errors.js';
import { ipv4FromBytes, macFromBytes } from '../ipv4.js';
import { NLA_HEADER_BYTES, NLA_TYPE_MASK, NLMSG_HEADER_BYTES, nla, parseAttrs } from '../netlink.js';

const NETLINK_ROUTE = 0;
/** Per datagram; acks for this many bytes of requests fit easily in the 8 MiB receive buffer. */
const MAX_BATCH_BYTES = 64 * 1024;
const NLMSG_ERROR = 2;
const NLM_F_DUMP = 0x300;
/** NUD_PERMANENT, in ndmsg's state. */
export const NUD_PERMANENT = 0x80;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const RT_TABLE_MAIN = 254;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PROXY = 11;
const IFLA_VXLAN_PORT = 15;
const VETH_INFO_PEER = 1;
const IFINFOMSG_BYTES = 16;

// ---- attribute encoding the package leaves as raw Buffers (IFLA_LINKINFO) ----


function u8(v: number): Buffer {
  return Buffer.from([v]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}


export interface VxlanConfig {
  vni: number;
  port: number;
  /** Source address of the tunnel (the advertise address); undefined lets routing choose. */
  local?: Buffer;
}

/** IFLA_LINKINFO for a VXLAN device like Docker's: no learning, ARP proxy on. */
export function vxlanLinkInfo(c: VxlanConfig): Buffer {
  const data = [nla(IFLA_VXLAN_ID, u32(c.vni)), nla(IFLA_VXLAN_LEARNING, u8(0)), nla(IFLA_VXLAN_PROXY, u8(1)), nla(IFLA_VXLAN_PORT, be16(c.port))];
  if (c.local) data.push(nla(IFLA_VXLAN_LOCAL, c.local));
  return Buffer.concat([nla(IFLA_INFO_KIND, cstr('vxlan')), nla(IFLA_INFO_DATA, Buffer.concat(data))]);
}

export function bridgeLinkInfo(): Buffer {
  return nla(IFLA_INFO_KIND, cstr('bridge'));
}

/** A veth whose peer is created directly in another namespace under its final name. */
export function vethLinkInfo(peer: ifla.LinkAttrs): Buffer {
  const stream = new AttrStream();
  stream.emit(ifla.formatLinkAttrs(peer));
  const attrs = Buffer.concat(stream.bufs);
  const peerInfo = Buffer.concat([Buffer.alloc(IFINFOMSG_BYTES), attrs]);
  return Buffer.concat([nla(IFLA_INFO_KIND, cstr('veth')), nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, peerInfo))]);
}

// ---- parsed views of what we read back ----

export interface LinkView {
  index: number;
  name: string;
  kind: string | undefined;
  master: number | undefined;
  mtu: number | undefined;
  up: boolean;
  mac: string | undefined;
  vxlan?: { vni: number | undefined; port: number | undefined; learning: boolean; proxy: boolean; local: string | undefined };
}

/** A link message as berth reads it (kind, master, MTU, state, MAC; VXLAN settings). */
export function linkView(m: rt.LinkMessage): LinkView {
  const info = m.attrs.linkinfo ? parseAttrs(m.attrs.linkinfo) : undefined;
  const kind = info?.get(IFLA_INFO_KIND)?.toString('utf8').replace(/\0+$/, '');
  const view: LinkView = {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    kind,
    master: m.attrs.master,
    mtu: m.attrs.mtu,
    up: m.data.flags?.up === true,
    mac: m.attrs.address ? macFromBytes(m.attrs.address) : undefined,
  };
  const data = info?.get(IFLA_INFO_DATA);
  if (kind === 'vxlan' && data) {
    const v = ifla.parseVxlan(data);
    view.vxlan = {
      vni: v.id,
      port: v.port ? v.port.readUInt16BE(0) : undefined,
      learning: v.learning === 1,
      proxy: v.proxy === 1,
      local: v.local ? ipv4FromBytes(v.local) : undefined,
    };
  }
  return view;
}

// ---- the transport ----

interface Pending {
  buf: Buffer;
  dump: boolean;
  cb: ((error?: Error) => void) | undefined;
  /** A pre-encoded batch: its replies go back to the caller instead of the package's socket. */
  raw?: { resolve: (replies: Buffer[]) => void; reject: (err: Error) => void };
}

export interface KernelError {
  errno: number;
  message: string | undefined;
}

/** Stands in for RawNetlinkSocket: same events and calls, our fd, batched transactions. */
class NetnsTransport extends EventEmitter {
  private queue: Pending[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  /** Kernel errors (with the extended-ack message) by sequence number, for the caller to claim. */
  readonly errors = new Map<number, KernelError>();

  constructor(private readonly fd: number) {
    super();
  }

  send(msg: Uint8Array | Uint8Array[], _options?: unknown, callback?: (error?: Error) => void): void {
    if (this.closed) {
      callback?.(new NetdError('E_CLOSED', 'netlink socket is closed'));
      return;
    }
    let buf = Array.isArray(msg) ? Buffer.concat(msg) : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
    // The package does not pad a message's tail; back to back in one datagram the kernel
    // expects each to start on a 4-byte boundary.
    if (buf.length % 4 !== 0) buf = Buffer.concat([buf, Buffer.alloc(4 - (buf.length % 4))]);
    this.queue.push({ buf, dump: (buf.readUInt16LE(6) & NLM_F_DUMP) === NLM_F_DUMP, cb: callback });
    this.draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Queues one datagram of pre-encoded requests; resolves with every reply datagram. */
  transactRaw(buf: Buffer): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new NetdError('E_CLOSED', 'netlink socket is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ buf, dump: false, cb: undefined, raw: { resolve, reject } });
      this.draining ??= new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    });
  }

  private takeBatch(): Pending[] {
    const first = this.queue.shift()!;
    const batch = [first];
    if (first.dump || first.raw) return batch;
    let bytes = first.buf.length;
    while (this.queue.length > 0 && !this.queue[0]!.dump && !this.queue[0]!.raw && bytes + this.queue[0]!.buf.length <= MAX_BATCH_BYTES) {
      const next = this.queue.shift()!;
      bytes += next.buf.length;
      batch.push(next);
    }
    return batch;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      let replies: Buffer[];
      try {
        replies = await netlinkTransact(this.fd, batch.length === 1 ? batch[0]!.buf : Buffer.concat(batch.map((p) => p.buf)));
      } catch (err) {
        for (const p of batch) p.cb?.(err as Error);
        batch[0]!.raw?.reject(err as Error);
        continue;
      }
      if (batch[0]!.raw) {
        batch[0]!.raw.resolve(replies);
        continue;
      }
      for (const p of batch) p.cb?.();
      for (const r of replies) {
        this.noteErrors(r);
        this.emit('message', r, { port: 0, groups: 0 });
      }
    }
    this.draining = undefined;
  }

  private noteErrors(datagram: Buffer): void {
    for (const [seq, e] of kernelErrors(datagram)) this.errors.set(seq, e);
  }

  address(): { port: number; groups: number } {
    return { port: 0, groups: 0 };
  }
  ref(): void {}
  unref(): void {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining) await this.draining;
    closeSync(this.fd);
    this.emit('close');
  }
}

/** One request message (NLM_F_REQUEST added to `flags`), its tail padded to 4 bytes so that
 *  messages can go back to back in one datagram. */
function netlinkRequest(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const len = NLMSG_HEADER_BYTES + payload.length;
  const msg = Buffer.alloc((len + 3) & ~3);
  msg.writeUInt32LE(len, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(flags | NLM_F_REQUEST, 6);
  msg.writeUInt32LE(seq, 8);
  payload.copy(msg, NLMSG_HEADER_BYTES);
  return msg;
}

/** Every NLMSG_ERROR with a non-zero errno in a datagram, by sequence number. */
function kernelErrors(datagram: Buffer): Map<number, KernelError> {
  const out = new Map<number, KernelError>();
  for (let off = 0; off + NLMSG_HEADER_BYTES <= datagram.length; ) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HEADER_BYTES) break;
    if (datagram.readUInt16LE(off + 4) === NLMSG_ERROR && len >= NLMSG_HEADER_BYTES + 4) {
      const errno = -datagram.readInt32LE(off + NLMSG_HEADER_BYTES);
      if (errno > 0) {
        const flags = datagram.readUInt16LE(off + 6);
        let message: string | undefined;
        // Capped ack: errno, then only the request's header, then the TLVs.
        const tlvStart = off + NLMSG_HEADER_BYTES + 4 + NLMSG_HEADER_BYTES;
        if (flags & NLM_F_ACK_TLVS && tlvStart < off + len) {
          message = parseAttrs(datagram.subarray(tlvStart, off + len)).get(NLMSGERR_ATTR_MSG)?.toString('utf8').replace(/\0+$/, '');
        }
        out.set(datagram.readUInt32LE(off + 8), { errno, message });
      }
    }
    off += (len + 3) & ~3;
  }
return out;
}

/** One request for Rtnl.batch: message type, NLM_F_* flags beyond REQUEST|ACK, and the payload. */
export interface RawRequest {
  type: number;
  flags: number;
  payload: Buffer;
}

export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

export type RequestOptions = { seq: number; flags?: number };

/** An rtnetlink connection into one namespace. */
export class Rtnl {
  readonly rt: RtNetlinkSocket;
  private readonly transport: NetnsTransport;
  private seq = 1;

  private constructor(
    readonly netnsPath: string,
    fd: number,
  ) {
    this.transport = new NetnsTransport(fd);
    this.rt = new RtNetlinkSocket(new NetlinkSocket(this.transport as unknown as RawNetlinkSocket));
  }

  static open(netnsPath: string): Rtnl {
    return new Rtnl(netnsPath, openNetlinkInNetns(netnsPath, NETLINK_ROUTE));
  }

  /** The next sequence number, never 0. */
  private nextSeq(): number {
    const seq = this.seq;
    this.seq = (this.seq % 0xfffffffe) + 1;
    return seq;
  }

  /**
   * Runs one request with a sequence number we chose, so a failure can be matched with the
   * kernel's errno and extended-ack message. `what` names the operation and object for errors.
   */
  async call<T>(what: string, fn: (opts: RequestOptions) => Promise<T>, flags?: number): Promise<T> {
    const seq = this.nextSeq();
    try {
      return await fn(flags === undefined ? { seq } : { seq, flags });
    } catch (err) {
      const k = this.transport.errors.get(seq);
      this.transport.errors.delete(seq);
      if (k) throw new NetlinkOperationError(`${what} in ${this.netnsPath}`, errnoName(k.errno), k.message, { cause: err });
      throw new NetlinkOperationError(`${what} in ${this.netnsPath}`, 'failed', (err as Error).message, { cause: err });
    }
  }

  /** Like call, but resolves to the errno name instead of throwing for the ones listed. */
  async tolerate(what: string, fn: (opts: RequestOptions) => Promise<unknown>, ok: readonly string[], flags?: number): Promise<string | undefined> {
    try {
      await this.call(what, fn, flags);
      return undefined;
    } catch (err) {
      if (err instanceof NetlinkOperationError && ok.includes(err.errnoName)) return err.errnoName;
      throw err;
    }
  }

  /**
   * The bulk path: pre-encoded requests go out in as few datagrams as fit, skipping the
   * package's per-request promise machinery (which costs more than the kernel does for
   * thousands of neighbour entries). Resolves with the errno name per request, undefined for
   * success; never rejects for a kernel refusal.
   */
  async batch(requests: readonly RawRequest[]): Promise<Array<KernelError | undefined>> {
    const seqs: number[] = [];
    const chunks: Buffer[][] = [[]];
    let bytes = 0;
    for (const r of requests) {
      const seq = this.nextSeq();
      seqs.push(seq);
      const msg = netlinkRequest(r.type, r.flags | NLM_F_ACK, seq, r.payload);
      if (bytes + msg.length > MAX_BATCH_BYTES && chunks.at(-1)!.length > 0) {
        chunks.push([]);
        bytes = 0;
      }
      chunks.at(-1)!.push(msg);
      bytes += msg.length;
    }
    const errors = new Map<number, KernelError>();
    const replies = await Promise.all(chunks.filter((c) => c.length > 0).map((c) => this.transport.transactRaw(Buffer.concat(c))));
    for (const datagram of replies.flat()) for (const [seq, e] of kernelErrors(datagram)) errors.set(seq, e);
    return seqs.map((s) => errors.get(s));
  }

  /**
   * Dumps the neighbours of `family` (AF_INET: ARP entries; AF_BRIDGE: FDB entries) and hands
   * `visit` those on link `ifindex`: NUD state, NDA_DST and NDA_LLADDR (views into the reply,
   * valid only during the call). The dump goes out raw and its datagrams are read in place: the
   * package's parser made an object per message, attribute and flag, and even its message
   * splitting alone a view and an object per entry — the most of the garbage, and so of the
   * idle CPU, of an agentd holding 10,000 remote endpoints (two dumps every reconcile).
   */
  async forEachNeighbour(family: number, ifindex: number, visit: (state: number, dst: Buffer | undefined, lladdr: Buffer | undefined) => void): Promise<void> {
    const seq = this.nextSeq();
    const ndmsg = Buffer.alloc(NDMSG_BYTES);
    ndmsg[0] = family;
    const request = netlinkRequest(RTM_GETNEIGH, NLM_F_DUMP, seq, ndmsg);
    const what = `dump neighbours (family ${family}) in ${this.netnsPath}`;
    let datagrams: Buffer[];
    try {
      datagrams = await this.transport.transactRaw(request);
    } catch (err) {
      throw new NetlinkOperationError(what, 'failed', (err as Error).message, { cause: err });
    }
    for (const d of datagrams) {
      for (let off = 0; off + NLMSG_HEADER_BYTES <= d.length; ) {
        const len = d.readUInt32LE(off);
        if (len < NLMSG_HEADER_BYTES || off + len > d.length) break;
        const type = d.readUInt16LE(off + 4);
        if (type === NLMSG_ERROR && len >= NLMSG_HEADER_BYTES + 4) {
          const e = kernelErrors(d.subarray(off, off + len)).get(seq);
          if (e) throw new NetlinkOperationError(what, errnoName(e.errno), e.message);
        } else if (type === RTM_NEWNEIGH && len >= NLMSG_HEADER_BYTES + NDMSG_BYTES && d.readInt32LE(off + NLMSG_HEADER_BYTES + 4) === ifindex) {
          const body = off + NLMSG_HEADER_BYTES;
          let dst: Buffer | undefined;
          let lladdr: Buffer | undefined;
          for (let a = body + NDMSG_BYTES; a + NLA_HEADER_BYTES <= off + len; ) {
            const alen = d.readUInt16LE(a);
            if (alen < NLA_HEADER_BYTES || a + alen > off + len) break;
            const atype = d.readUInt16LE(a + 2) & NLA_TYPE_MASK;
            if (atype === NDA_DST) dst = d.subarray(a + NLA_HEADER_BYTES, a + alen);
            else if (atype === NDA_LLADDR) lladdr = d.subarray(a + NLA_HEADER_BYTES, a + alen);
            a += (alen + 3) & ~3;
          }
          visit(d.readUInt16LE(body + 8), dst, lladdr);
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /** One link by name, without dumping the namespace; undefined when there is none. */
  async linkByName(name: string): Promise<LinkView | undefined> {
    try {
      const [m] = await this.call(`get link ${name}`, (o) => this.rt.getLink({}, { ifname: name }, o));
      return m && linkView(m);
    } catch (err) {
      if (err instanceof NetlinkOperationError && err.errnoName === 'ENODEV') return undefined;
      throw err;
    }
  }

  async links(): Promise<LinkView[]> {
    return (await this.call('dump links', (o) => this.rt.getLinks(undefined, undefined, o))).map(linkView);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

// ---- neighbour and FDB requests for the bulk path ----

const RTM_NEWNEIGH = 28;
const RTM_DELNEIGH = 29;
const RTM_GETNEIGH = 30;
/** struct ndmsg: family, padding, ifindex (s32), state (u16), flags, type. */
const NDMSG_BYTES = 12;
const NDA_DST = 1;
const NDA_LLADDR = 2;

export interface NeighbourEntry {
  ifindex: number;
  /** AF_INET: IP → MAC neighbour; AF_BRIDGE: MAC → VTEP forwarding entry (NTF_SELF). */
  family: typeof AF_INET | typeof AF_BRIDGE;
  dst: Buffer;
  lladdr: Buffer;
}

function neighbourPayload(e: NeighbourEntry, withState: boolean): Buffer {
  const hdr = rt.formatNeighbor({
    family: e.family,
    ifindex: e.ifindex,
    ...(withState ? { state: { permanent: true } } : {}),
    ...(e.family === AF_BRIDGE ? { flags: { self: true } } : {}),
  });
  const attrs = e.family === AF_INET && !withState ? [nla(NDA_DST, e.dst)] : [nla(NDA_DST, e.dst), nla(NDA_LLADDR, e.lladdr)];
  return Buffer.concat([hdr, ...attrs]);
}

/** Add-or-replace a permanent entry. */
export function setNeighbourRequest(e: NeighbourEntry): RawRequest {
  return { type: RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_REPLACE, payload: neighbourPayload(e, true) };
}

export function deleteNeighbourRequest(e: NeighbourEntry): RawRequest {
  return { type: RTM_DELNEIGH, flags: 0, payload: neighbourPayload(e, false) };
}
