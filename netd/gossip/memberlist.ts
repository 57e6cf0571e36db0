// A member of a hashicorp/memberlist cluster as Docker 20.10's NetworkDB runs it (wire facts in
// docs/research/networkdb-gossip-facts.md §1–3): encrypted UDP packets and TCP streams on one
// port, push-pull state exchange (join and periodic), user messages carried for the layer above
// (NetworkDB), and memberlist's failure detection (SWIM with Lifeguard's dynamic suspicion, from
// hashicorp/memberlist state.go and suspicion.go): one member probed per probe interval, ping-req
// through others and a TCP ping when the direct ping goes unanswered, suspect → dead after a
// timeout that independent confirmations shorten, alive/suspect/dead gossiped piggyback with a
// retransmit limit, and suspicion of ourselves refuted. Written by hand: there is no Node
// implementation of memberlist's wire format to use. Lifeguard's local health (awareness) scales
// our probe deadline when our own probes fail without the helpers' nacks, or we have to refute.
// Not done: compression of what we send.
//
// Everything that arrives is bounded before work is spent on it: stream frames by declared size,
// time from accept and concurrent count; decompressed bytes per packet and per stream in total;
// one compress level. Drops are counted by reason; a peer whose packets no key decrypts is
// named once in a warning, not once per packet.
import { createCipheriv, createDecipheriv, randomFillSync, type Cipher, type CipherGCMTypes, type Decipher } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { crc32 } from 'node:zlib';
import { decodeMsgpack, encodeMsgpack, type MsgValue } from './msgpack.js';
import { LzwOutputLimitError, lzwDecompress } from './lzw.js';
import { BroadcastQueue } from './broadcasts.js';
import { FramePool, FrameReader, GossipDropError, STREAM_HEADER_BYTES, type DropReason } from './stream.js';
import { Awareness, Suspicion, suspicionBounds } from './suspicion.js';
import { ipv4Bytes, ipv4FromBytes, parseIpv4 } from '../ipv4.js';
import { BerthError, type LogFn, type LogLevel } from '../../base/index.js';

export const MSG = { ping: 0, indirectPing: 1, ack: 2, suspect: 3, alive: 4, dead: 5, pushPull: 6, compound: 7, user: 8, compress: 9, encrypt: 10, nack: 11, hasCrc: 12, err: 13 } as const;
/** [protocol min, max, current, delegate min, max, current], as libnetwork configures memberlist. */
const VSN = Buffer.from([1, 5, 2, 0, 0, 0]);
const ENCRYPTION_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** update() allocates its output: in chunks this size, each one dies young (a scavenge frees it). */
const CRYPT_CHUNK_BYTES = 64 * 1024;

/** Runs `input` through `c` chunk by chunk into `out` at `at`; returns where it stopped. */
function cryptInto(c: Cipher | Decipher, input: Uint8Array, out: Buffer, at: number): number {
  for (let i = 0; i < input.length; i += CRYPT_CHUNK_BYTES) at += c.update(input.subarray(i, i + CRYPT_CHUNK_BYTES)).copy(out, at);
  return at;
}
/**
 * Largest stream frame accepted (all of it read before the GCM tag can be checked). memberlist
 * allows 20 MiB; the largest honest frames are NetworkDB bulk syncs, LZW-compressed before
 * encryption: ~250 bytes per endpoint record before compression, so a 10 000-endpoint network is
 * ~2.5 MiB raw and under 1 MiB on the wire. 8 MiB leaves room for several times that while
 * MAX_INBOUND_STREAMS × 8 MiB bounds what unauthenticated peers can make us hold.
 */
const MAX_STREAM_FRAME_BYTES = 8 * 1024 * 1024;
/** Decompressed bytes per stream, all compress messages in it together. */
const MAX_STREAM_INFLATE_BYTES = 32 * 1024 * 1024;
/**
 * Decompressed bytes per UDP packet, all parts together. An honest packet is compressed from at
 * most UDPBufferSize (1400) bytes — memberlist compresses only when that makes it smaller.
 */
const MAX_PACKET_INFLATE_BYTES = 64 * 1024;
/**
 * What a stream may carry, as memberlist's handleConn takes it: ping, push-pull and user messages
 * (a compress around one). Membership news (alive, suspect, dead), acks and compounds come by UDP
 * only; over a stream they are dropped as malformed.
 */
const STREAM_MESSAGE_TYPES: ReadonlySet<number> = new Set([MSG.ping, MSG.pushPull, MSG.user, MSG.compress]);
/** Inbound streams handled at once; more are closed on accept (memberlist refuses push-pulls past 128). */
const MAX_INBOUND_STREAMS = 32;
/** memberlist's TCPTimeout: here a hard deadline per stream from accept or connect, not an idle timer. */
const TCP_TIMEOUT_MS = 10_000;
/** One warning per peer address this often at most when its packets do not decrypt. */
const DECRYPT_WARN_EVERY_MS = 10 * 60_000;
const DECRYPT_WARN_PEERS = 256;
/** memberlist's packet budget: UDPBufferSize (libnetwork's PacketBufferSize), encryption overhead, compound framing. */
const UDP_BUFFER_BYTES = 1400;
const ENCRYPT_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;
const COMPOUND_HEADER_OVERHEAD = 2;
const COMPOUND_OVERHEAD = 2;
const STATE_ALIVE = 0;
const STATE_SUSPECT = 1;
const STATE_DEAD = 2;
const STATE_LEFT = 3;

export { GossipDropError, type DropReason } from './stream.js';

export type GossipErrorCode = 'E_GOSSIP_CRYPTO' | 'E_GOSSIP_PROTOCOL' | 'E_GOSSIP_JOIN' | 'E_GOSSIP_IO';

/** Join and I/O failures are temporary unless said otherwise; a bad key or a peer speaking
 *  something else is not. */
export class GossipError extends BerthError {
  declare readonly code: GossipErrorCode;
  constructor(code: GossipErrorCode, message: string, options?: { cause?: unknown; temporary?: boolean }) {
    super(code, message, { cause: options?.cause, temporary: options?.temporary ?? (code === 'E_GOSSIP_JOIN' || code === 'E_GOSSIP_IO') });
  }
}

/** AES-GCM keys, the first one primary (it encrypts); every key is tried to decrypt. */
export class Keyring {
  constructor(readonly keys: readonly Buffer[]) {
    if (keys.length === 0) throw new GossipError('E_GOSSIP_CRYPTO', 'the gossip keyring is empty: the manager sent no networking:gossip keys');
    for (const k of keys) if (![16, 24, 32].includes(k.length)) throw new GossipError('E_GOSSIP_CRYPTO', `a gossip key is ${k.length} bytes; AES needs 16, 24 or 32`);
  }

  /**
   * [prefix][version][nonce][ciphertext][tag], in one Buffer allocated at its final length. The
   * plaintext may come in parts (a stream's header, length and megabyte body), and is encrypted
   * in chunks: a bulk sync was copied four times over (concatenations around one update()) and
   * each copy outlived enough scavenges to wait for a full GC.
   */
  encrypt(plain: Uint8Array | readonly Uint8Array[], aad?: Uint8Array, prefix?: Uint8Array, alloc: (n: number) => Buffer = Buffer.allocUnsafe): Buffer {
    const key = this.keys[0]!;
    const parts = plain instanceof Uint8Array ? [plain] : plain;
    let length = 0;
    for (const p of parts) length += p.length;
    const pre = prefix?.length ?? 0;
    const out = alloc(pre + 1 + NONCE_BYTES + length + TAG_BYTES);
    if (prefix) out.set(prefix, 0);
    out[pre] = ENCRYPTION_VERSION;
    const nonce = randomFillSync(out.subarray(pre + 1, pre + 1 + NONCE_BYTES));
    const c = createCipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, nonce);
    if (aad) c.setAAD(aad);
    let at = pre + 1 + NONCE_BYTES;
    for (const p of parts) at = cryptInto(c, p, out, at);
    at += c.final().copy(out, at);
    c.getAuthTag().copy(out, at);
    return out;
  }

  decrypt(buf: Uint8Array, aad?: Uint8Array, alloc: (n: number) => Buffer = Buffer.allocUnsafe): Buffer {
    if (buf.length < 1 + NONCE_BYTES + TAG_BYTES) throw new GossipError('E_GOSSIP_CRYPTO', `encrypted payload too short (${buf.length} bytes)`);
    const version = buf[0]!;
    if (version > 1) throw new GossipError('E_GOSSIP_CRYPTO', `unknown encryption version ${version}`);
    const nonce = buf.subarray(1, 1 + NONCE_BYTES);
    const tag = buf.subarray(buf.length - TAG_BYTES);
    const body = buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES);
    const out = alloc(body.length);
    for (const key of this.keys) {
      try {
        const d = createDecipheriv(`aes-${key.length * 8}-gcm` as CipherGCMTypes, key, nonce);
        if (aad) d.setAAD(aad);
        d.setAuthTag(tag);
        let at = cryptInto(d, body, out, 0);
        at += d.final().copy(out, at);
        const plain = out.subarray(0, at);
        // Version 0 padded with PKCS#7.
        return version === 0 ? plain.subarray(0, plain.length - (plain[plain.length - 1] ?? 0)) : plain;
      } catch {
        // try the next key
      }
    }
    throw new GossipError('E_GOSSIP_CRYPTO', 'no gossip key decrypts this message (keys rotated, or not this cluster)');
  }
}

export interface MemberState {
  name: string;
  address: string;
  port: number;
  incarnation: number;
  /** 0 alive, 1 suspect, 2 dead, 3 left (memberlist's NodeStateType). */
  state: number;
}

/** What the layer above (NetworkDB) gives and takes. */
export interface MemberlistDelegate {
  /** A user message from a peer (UDP or TCP). `msg` is valid only during the call (a stream's
   *  may be a pooled buffer): copy what is kept. */
  notifyMsg(msg: Buffer): void;
  /** Our state for a push-pull. */
  localState(join: boolean): Buffer;
  /** A peer's state from a push-pull, after its members were merged; valid only during the call. */
  mergeRemoteState(state: Buffer, join: boolean): void;
  /**
   * A member's state changed: it came alive (first seen, or back), became suspect (still a
   * member: memberlist's NotifyLeave fires only on dead or left), or is dead or left (gone:
   * drop what it owned).
   */
  notifyMember?(m: MemberState): void;
}

export interface MemberlistOptions {
  name: string;
  bindAddress: string;
  advertiseAddress: string;
  port: number;
  keyring: Keyring;
  delegate: MemberlistDelegate;
  log?: LogFn;
  /** Probe one member this often (DefaultLANConfig: 1 s; libnetwork keeps it). */
  probeIntervalMs?: number;
  /** Wait this long for the direct ping's ack before asking others (500 ms). */
  probeTimeoutMs?: number;
  /** Members asked to ping an unresponsive one for us (3). */
  indirectChecks?: number;
  /** Gossip queued alive/suspect/dead messages this often (200 ms) … */
  gossipIntervalMs?: number;
  /** … to this many random members (3). */
  gossipNodes?: number;
  /** Keep gossiping to a dead member, and remember it, this long (30 s). */
  gossipToTheDeadMs?: number;
  /** Suspicion lasts at least SuspicionMult × probe interval (× log10 n past 10 nodes) (4) … */
  suspicionMult?: number;
  /** … and at most this many times that minimum (6). */
  suspicionMaxTimeoutMult?: number;
  /** Each broadcast goes out RetransmitMult × ceil(log10(n+1)) times (4). */
  retransmitMult?: number;
  /** Try a TCP ping when UDP probes fail, for peers speaking protocol ≥ 3 (DisableTcpPings=false). */
  tcpPing?: boolean;
  /** The probe deadline grows up to this many probe intervals while we look unhealthy
   *  (AwarenessMaxMultiplier, 8). */
  awarenessMaxMultiplier?: number;
  /** Hard deadline for one stream, from accept or connect (TCPTimeout, 10 s). */
  streamDeadlineMs?: number;
  /** Inbound streams handled at once; more are closed at once (32). */
  maxInboundStreams?: number;
}

/** Packets and streams thrown away, by reason. */
export type MemberlistDrops = Record<DropReason, number>;

export interface MemberlistStats {
  packetsIn: number;
  packetsOut: number;
  /** All drops together (see `drops`). */
  dropped: number;
  streamsIn: number;
  pushPulls: number;
  pingsAnswered: number;
  refutations: number;
  /** Stale accusations of us answered with our current alive, straight to their sender. */
  corrections: number;
  /** Our local health score (0 healthy … awarenessMaxMultiplier − 1): probes wait score + 1 intervals. */
  healthScore: number;
  /** Known members by state, ourselves not counted. */
  members: { alive: number; suspect: number; dead: number; left: number };
  probesSent: number;
  /** Acks that answered one of our probes (direct, relayed or over TCP). */
  acks: number;
  /** ping-req messages sent to others for a probe the direct ping did not answer. */
  indirectProbes: number;
  /** Members that became suspect here. */
  suspicions: number;
  /** Members that became dead here (not counting those that left). */
  deadDeclared: number;
  drops: MemberlistDrops;
}

interface Node extends MemberState {
  /** The peer's highest memberlist protocol (Vsn[1]): picks TCP ping (≥3) and nack (≥4). */
  pmax: number;
  vsn: Buffer;
  stateChange: number;
}

interface AckHandler {
  ack(): void;
  nack(): void;
  timer: NodeJS.Timeout;
}

/** Decompression allowance shared by everything in one packet or stream. */
interface Budget {
  inflate: number;
}

const asString = (v: MsgValue | undefined): string => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : typeof v === 'string' ? v : '');
const asNumber = (v: MsgValue | undefined): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);
const asBytes = (v: MsgValue | undefined): Buffer => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0));
const asMap = (v: MsgValue | undefined): Record<string, MsgValue> => (v && typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v) ? v : {});

/** Members remembered at once as recently corrected; past it, corrections wait. */
const MAX_CORRECTIONS_TRACKED = 1024;

/** The address a packet came from: a member's gossip socket. */
interface Sender {
  address: string;
  port: number;
}

/** When a helper nacks a ping-req the target has not answered, as a fraction of the probe timeout. */
const NACK_AT_FRACTION = 0.8;

function message(type: number, body: MsgValue): Buffer {
  return Buffer.concat([Buffer.from([type]), encodeMsgpack(body)]);
}

/** [7][n][n × u16 BE length][parts] (util.go makeCompoundMessage); at most 255 parts each. */
export function compoundMessages(parts: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < parts.length; i += 255) {
    const group = parts.slice(i, i + 255);
    const head = Buffer.alloc(2 + 2 * group.length);
    head[0] = MSG.compound;
    head[1] = group.length;
    group.forEach((p, j) => head.writeUInt16BE(p.length, 2 + 2 * j));
    out.push(Buffer.concat([head, ...group]));
  }
  return out;
}

/** Up to `k` of `items` picked at random among those `ok` accepts (memberlist's kRandomNodes). */
function pickRandom<T>(items: readonly T[], k: number, ok: (t: T) => boolean): T[] {
  const pool = items.filter(ok);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

const emptyDrops = (): MemberlistDrops => ({ decrypt: 0, malformed: 0, oversize: 0, decompressCap: 0, nestedCompress: 0, streamDeadline: 0, streamCap: 0 });

export class Memberlist {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private incarnation = 1;
  private readonly members = new Map<string, Node>();
  /** Probe order: shuffled each round, newcomers at a random place (memberlist's nodes slice). */
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private seqNo = 0;
  private readonly ackHandlers = new Map<number, AckHandler>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly broadcasts: BroadcastQueue;
  private readonly timers = new Set<NodeJS.Timeout>();
  private gossipTimer: NodeJS.Timeout | undefined;
  private inboundStreams = 0;
  private readonly decryptWarned = new Map<string, number>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counters = {
    packetsIn: 0,
    packetsOut: 0,
    streamsIn: 0,
    pushPulls: 0,
    pingsAnswered: 0,
    refutations: 0,
    corrections: 0,
    probesSent: 0,
    acks: 0,
    indirectProbes: 0,
    suspicions: 0,
    deadDeclared: 0,
  };
  private readonly drops = emptyDrops();
  private readonly awareness: Awareness;
  /** When each member (address:port) was last sent a correction (see correct()). */
  private readonly lastCorrection = new Map<string, number>();
  private readonly cfg: Required<Omit<MemberlistOptions, 'log' | 'keyring' | 'delegate'>>;

  private keyring: Keyring;
  /** Large stream frames' buffers, sent and received, kept for the next ones (stream.ts). */
  private readonly framePool = new FramePool();
  private readonly takeFrame = (n: number): Buffer => this.framePool.take(n);

  /** Our advertise address as memberlist's 4-byte Addr (the sockets are IPv4 only). */
  private readonly addr: Buffer;

  constructor(private readonly opts: MemberlistOptions) {
    this.keyring = opts.keyring;
    const ip = parseIpv4(opts.advertiseAddress);
    if (ip === undefined) throw new GossipError('E_GOSSIP_IO', `gossip needs an IPv4 advertise address, got ${JSON.stringify(opts.advertiseAddress)}`, { temporary: false });
    this.addr = ipv4Bytes(ip);
    this.cfg = {
      name: opts.name,
      bindAddress: opts.bindAddress,
      advertiseAddress: opts.advertiseAddress,
      port: opts.port,
      probeIntervalMs: opts.probeIntervalMs ?? 1000,
      probeTimeoutMs: opts.probeTimeoutMs ?? 500,
      indirectChecks: opts.indirectChecks ?? 3,
      gossipIntervalMs: opts.gossipIntervalMs ?? 200,
      gossipNodes: opts.gossipNodes ?? 3,
      gossipToTheDeadMs: opts.gossipToTheDeadMs ?? 30_000,
      suspicionMult: opts.suspicionMult ?? 4,
      suspicionMaxTimeoutMult: opts.suspicionMaxTimeoutMult ?? 6,
      retransmitMult: opts.retransmitMult ?? 4,
      tcpPing: opts.tcpPing ?? true,
      awarenessMaxMultiplier: opts.awarenessMaxMultiplier ?? 8,
      streamDeadlineMs: opts.streamDeadlineMs ?? TCP_TIMEOUT_MS,
      maxInboundStreams: opts.maxInboundStreams ?? MAX_INBOUND_STREAMS,
    };
    this.broadcasts = new BroadcastQueue(this.cfg.retransmitMult, () => this.members.size + 1);
    this.awareness = new Awareness(this.cfg.awarenessMaxMultiplier);
  }

  /** Keys rotated by the manager: decrypt with all of them, encrypt with the new primary. */
  setKeyring(k: Keyring): void {
    this.keyring = k;
  }

  get name(): string {
    return this.opts.name;
  }

  stats(): MemberlistStats {
    const members = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (const m of this.members.values()) {
      if (m.state === STATE_ALIVE) members.alive++;
      else if (m.state === STATE_SUSPECT) members.suspect++;
      else if (m.state === STATE_DEAD) members.dead++;
      else members.left++;
    }
    const drops = { ...this.drops };
    const dropped = Object.values(drops).reduce((a, b) => a + b, 0);
    return { ...this.counters, healthScore: this.awareness.score, dropped, members, drops };
  }

  /**
   * Live peers (not ourselves): alive or suspect — a suspect is still a member until it is
   * declared dead, as in memberlist's Members().
   */
  alive(): MemberState[] {
    return [...this.members.values()].filter((m) => m.state === STATE_ALIVE || m.state === STATE_SUSPECT);
  }

  /** Every peer known, dead and left ones too (until forgotten after gossipToTheDeadMs). */
  allMembers(): MemberState[] {
    return [...this.members.values()];
  }

  member(name: string): MemberState | undefined {
    return this.members.get(name);
  }

  async start(): Promise<void> {
    const udp = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    udp.on('message', (msg, rinfo) => this.onPacket(msg, rinfo.address, rinfo.port));
    udp.on('error', (err) => this.log('warn', 'gossip UDP socket error', { err: err.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.bindAddress, () => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      throw new GossipError('E_GOSSIP_IO', `binding gossip UDP ${this.opts.bindAddress}:${this.opts.port}: ${err.message}`, { cause: err });
    });
    this.udp = udp;
    const tcp = net.createServer((sock) => this.onStream(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.opts.port, this.opts.bindAddress, () => {
        tcp.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      udp.close();
      throw new GossipError('E_GOSSIP_IO', `listening for gossip on TCP ${this.opts.bindAddress}:${this.opts.port}: ${err.message}`, { cause: err });
    });
    this.tcp = tcp;
    // Our own alive waits in the queue until a join gives it someone to go to, or rides on the
    // acks to pings that come first (memberlist's setAlive). Without it the others heard of a
    // newcomer only from the member it joined through and their re-gossip: of 150 groups of
    // five joined through one member, 7 still had a member missing another after 1.5 s (1 of
    // 150 with it), until the next push-pull.
    this.broadcasts.queue(this.opts.name, message(MSG.alive, this.aliveBody()));
    // Staggered like memberlist's schedule(), so members started together do not probe in step.
    this.later(Math.random() * this.cfg.probeIntervalMs, () => void this.probeLoop());
    this.gossipTimer = setInterval(() => this.gossip(), this.cfg.gossipIntervalMs);
    this.gossipTimer.unref();
  }

  /**
   * Closes the sockets. With `leave` (the default) the others are told first, so they drop us
   * at once instead of waiting out a suspicion timeout; without it we just fall silent.
   */
  close(opts: { leave?: boolean } = {}): Promise<void> {
    this.closing ??= this.shutdown(opts.leave !== false);
    return this.closing;
  }

  private async shutdown(leaving: boolean): Promise<void> {
    clearInterval(this.gossipTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
    for (const h of this.ackHandlers.values()) clearTimeout(h.timer);
    this.ackHandlers.clear();
    // The leave is sent before `closed` is set (sendPacket drops everything after), and waited
    // for before the socket closes.
    const leave = message(MSG.dead, { From: this.opts.name, Incarnation: this.incarnation, Node: this.opts.name });
    const udp = this.udp;
    if (udp && leaving) {
      await Promise.all(
        this.alive().map(
          (m) =>
            new Promise<void>((r) => {
              this.counters.packetsOut++;
              udp.send(this.keyring.encrypt(leave), m.port, m.address, () => r());
            }),
        ),
      );
    }
    this.closed = true;
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }

  /** Push-pull (join) with each address; resolves with how many answered. */
  async join(addresses: ReadonlyArray<{ address: string; port: number }>): Promise<number> {
    let ok = 0;
    const errors: string[] = [];
    for (const a of addresses) {
      try {
        await this.pushPull(a.address, a.port, true);
        ok++;
      } catch (err) {
        errors.push(`${a.address}:${a.port}: ${(err as Error).message}`);
      }
    }
    if (ok === 0 && addresses.length > 0) throw new GossipError('E_GOSSIP_JOIN', `no gossip peer answered a join: ${errors.join('; ')}`);
    return ok;
  }

  /** One push-pull exchange over TCP. */
  async pushPull(address: string, port: number, join: boolean): Promise<void> {
    const reply = await this.request(address, port, this.localPushPull(join));
    if (reply[0] === MSG.err) throw new GossipError('E_GOSSIP_PROTOCOL', `the peer refused the push-pull: ${asString(asMap(decodeMsgpack(reply, 1).value).Error)}`);
    if (reply[0] !== MSG.pushPull) throw new GossipError('E_GOSSIP_PROTOCOL', `expected a push-pull reply, got message type ${reply[0]}`);
    this.mergePushPull(reply, join);
    this.counters.pushPulls++;
  }

  /** A user message over UDP. */
  sendBestEffort(member: MemberState, msg: Uint8Array): void {
    this.sendPacket(member.address, member.port, Buffer.concat([Buffer.from([MSG.user]), msg]));
  }

  /** A user message over TCP (no reply), whole or in parts sent one after the other. */
  async sendReliable(member: MemberState, msg: Uint8Array | readonly Uint8Array[]): Promise<void> {
    // In parts: a bulk sync's megabytes are copied once, into the encrypted frame.
    const parts = (msg instanceof Uint8Array ? [msg] : msg).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    const length = parts.reduce((n, p) => n + p.length, 0);
    await this.request(member.address, member.port, [Buffer.from([MSG.user]), encodeMsgpack({ UserMsgLen: length }), ...parts], false);
  }

  // ---- failure detection (state.go probe, probeNode, gossip) ----

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.later(Math.max(0, ms), r));
  }

  private async probeLoop(): Promise<void> {
    while (!this.closed && !this.closing) {
      const started = Date.now();
      this.framePool.trim();
      try {
        await this.probe();
      } catch (err) {
        this.log('debug', 'gossip probe failed', { err: (err as Error).message });
      }
      await this.sleep(this.cfg.probeIntervalMs - (Date.now() - started));
    }
  }

  /** The next live member in the probe order; a new shuffled round when the order runs out. */
  private async probe(): Promise<void> {
    for (let checked = 0; checked <= this.members.size; ) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.resetProbeOrder();
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const node = this.members.get(this.probeOrder[this.probeIndex++]!);
      if (!node || node.state === STATE_DEAD || node.state === STATE_LEFT) {
        checked++;
        continue;
      }
      await this.probeNode(node);
      return;
    }
  }

  /** Forgets members dead or left longer than gossipToTheDeadMs, then shuffles (resetNodes). */
  private resetProbeOrder(): void {
    const now = Date.now();
    for (const [name, m] of this.members) {
      if ((m.state === STATE_DEAD || m.state === STATE_LEFT) && now - m.stateChange > this.cfg.gossipToTheDeadMs) this.members.delete(name);
    }
    this.probeOrder = pickRandom([...this.members.keys()], this.members.size, () => true);
  }

  private nextSeqNo(): number {
    this.seqNo = (this.seqNo + 1) >>> 0;
    return this.seqNo;
  }

  private pingBody(node: string, seqNo: number): MsgValue {
    return { Node: node, SeqNo: seqNo, SourceAddr: this.addr, SourceNode: this.opts.name, SourcePort: this.opts.port };
  }

  private async probeNode(node: Node): Promise<void> {
    // Answered (directly, through a helper or over TCP): one step healthier; a failed probe
    // says how much of the failure is ours; one that could not be sent changes nothing.
    let healthDelta = 0;
    try {
      healthDelta = await this.probeNodeOnce(node);
    } finally {
      if (!this.closed) this.awareness.applyDelta(healthDelta);
    }
  }

  /** One probe of `node`; resolves with the change to our health score it calls for. */
  private async probeNodeOnce(node: Node): Promise<number> {
    const seqNo = this.nextSeqNo();
    const sent = Date.now();
    // Only the wait for the helpers and the TCP ping grows with our score: waiting longer for
    // the direct UDP ack would not get it through (state.go probeNode).
    const interval = this.awareness.scale(this.cfg.probeIntervalMs);
    const deadline = sent + interval;
    let acked = false;
    let nacks = 0;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of waiters) w();
    };
    const until = (ms: number) =>
      new Promise<void>((r) => {
        if (acked || ms <= 0) return r();
        // Unref'd: a probe stretched by our health score must not hold a closing process open.
        const t = setTimeout(done, ms);
        t.unref();
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          r();
        }
        waiters.add(done);
      });
    const handler: AckHandler = {
      ack: () => {
        acked = true;
        wake();
      },
      nack: () => nacks++,
      timer: setTimeout(() => this.ackHandlers.delete(seqNo), interval),
    };
    handler.timer.unref();
    this.ackHandlers.set(seqNo, handler);

    const ping = message(MSG.ping, this.pingBody(node.name, seqNo));
    this.counters.probesSent++;
    if (node.state === STATE_ALIVE) this.sendMsg(node.address, node.port, ping);
    else {
      // A suspect hears why it is probed, and can refute at once.
      const suspect = message(MSG.suspect, { From: this.opts.name, Incarnation: node.incarnation, Node: node.name });
      this.sendPacket(node.address, node.port, compoundMessages([ping, suspect])[0]!, node);
    }
    await until(this.cfg.probeTimeoutMs);
    if (acked || this.closed) return -1;

    const helpers = pickRandom([...this.members.values()], this.cfg.indirectChecks, (m) => m.name !== node.name && m.state === STATE_ALIVE);
    const expectedNacks = helpers.filter((h) => h.pmax >= 4).length;
    for (const h of helpers) {
      const req = { Nack: h.pmax >= 4, Node: node.name, Port: node.port, SeqNo: seqNo, SourceAddr: this.addr, SourceNode: this.opts.name, SourcePort: this.opts.port, Target: ipv4Bytes(parseIpv4(node.address) ?? 0) };
      this.counters.indirectProbes++;
      this.sendMsg(h.address, h.port, message(MSG.indirectPing, req));
    }
    const viaTcp = this.cfg.tcpPing && node.pmax >= 3 ? this.tcpPing(node, seqNo, deadline - Date.now()) : Promise.resolve(false);
    await until(deadline - Date.now());
    if (acked || this.closed) return -1;
    if (await viaTcp) {
      this.log('warn', 'gossip peer answers over TCP but not UDP: check that UDP 7946 is open between the nodes', { peer: node.name, address: node.address });
      return -1;
    }
    if (this.closed) return 0;
    this.log('info', 'gossip member suspected: no ack to direct or indirect probes', { peer: node.name, address: node.address, nacks, helpers: helpers.length, healthScore: this.awareness.score });
    this.suspectNode(node.name, node.incarnation, this.opts.name);
    // Helpers that said they could not reach it either vouch for us; the silent ones count
    // against our own health, and with no helper to ask, the failure does.
    return expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1;
  }

  private async tcpPing(node: Node, seqNo: number, ms: number): Promise<boolean> {
    if (ms <= 0) return false;
    try {
      const reply = await this.request(node.address, node.port, message(MSG.ping, this.pingBody(node.name, seqNo)), true, ms);
      const ok = reply[0] === MSG.ack && asNumber(asMap(decodeMsgpack(reply, 1).value).SeqNo) === seqNo;
      if (ok) this.counters.acks++;
      return ok;
    } catch {
      return false;
    }
  }

  /** Queued alive/suspect/dead messages to a few random members (state.go gossip). */
  private gossip(): void {
    if (this.closed || this.broadcasts.length === 0) return;
    const now = Date.now();
    const targets = pickRandom([...this.members.values()], this.cfg.gossipNodes, (m) => m.state === STATE_ALIVE || m.state === STATE_SUSPECT || (m.state === STATE_DEAD && now - m.stateChange <= this.cfg.gossipToTheDeadMs));
    const avail = UDP_BUFFER_BYTES - COMPOUND_HEADER_OVERHEAD - ENCRYPT_OVERHEAD;
    for (const t of targets) {
      const msgs = this.broadcasts.take(COMPOUND_OVERHEAD, avail);
      if (msgs.length === 0) return;
      if (msgs.length === 1) this.sendPacket(t.address, t.port, msgs[0]!, t);
      else for (const c of compoundMessages(msgs)) this.sendPacket(t.address, t.port, c, t);
    }
  }

  /** A ping, ack or ping-req, with queued broadcasts riding along (net.go sendMsg). */
  private sendMsg(address: string, port: number, msg: Buffer): void {
    const avail = UDP_BUFFER_BYTES - msg.length - COMPOUND_HEADER_OVERHEAD - ENCRYPT_OVERHEAD;
    const extra = this.broadcasts.take(COMPOUND_OVERHEAD, avail);
    this.sendPacket(address, port, extra.length === 0 ? msg : compoundMessages([msg, ...extra])[0]!);
  }

  // ---- member states (state.go aliveNode, suspectNode, deadNode, mergeState) ----

  private aliveBody(): MsgValue {
    return { Addr: this.addr, Incarnation: this.incarnation, Meta: Buffer.alloc(0), Node: this.opts.name, Port: this.opts.port, Vsn: VSN };
  }

  private notify(m: Node): void {
    try {
      this.opts.delegate.notifyMember?.(m);
    } catch (err) {
      this.log('warn', 'gossip member-change handler failed', { peer: m.name, err: (err as Error).message });
    }
  }

  private setState(m: Node, state: number): void {
    if (m.state === state) return;
    m.state = state;
    m.stateChange = Date.now();
    this.notify(m);
  }

  private aliveNode(name: string, addr: Buffer, port: number, incarnation: number, vsn: Buffer): void {
    if (!name) return;
    if (vsn.length >= 3 && (vsn[0] === 0 || vsn[1] === 0 || vsn[0]! > vsn[1]!)) return;
    if (name === this.opts.name) {
      if (incarnation < this.incarnation) return;
      if (incarnation === this.incarnation && (vsn.length === 0 || vsn.equals(VSN))) return;
      this.refute(incarnation);
      return;
    }
    const address = ipv4FromBytes(addr);
    let m = this.members.get(name);
    let readdressed = false;
    if (!m) {
      if (incarnation <= 0 || !address) return;
      m = { name, address, port, incarnation: 0, state: STATE_DEAD, pmax: vsn[1] ?? 0, vsn: VSN, stateChange: Date.now() };
      this.members.set(name, m);
      const at = Math.floor(Math.random() * (this.probeOrder.length + 1));
      this.probeOrder.splice(at, 0, name);
      if (at < this.probeIndex) this.probeIndex++;
    } else if ((address && address !== m.address) || (port && port !== m.port)) {
      if (m.state !== STATE_LEFT) {
        this.log('warn', 'gossip member name claimed from another address; ignored', { peer: name, known: `${m.address}:${m.port}`, claimed: `${address}:${port}` });
        return;
      }
      readdressed = true;
    }
    if (incarnation <= m.incarnation && !readdressed) return;
    this.suspicions.get(name)?.cancel();
    this.suspicions.delete(name);
    this.broadcasts.queue(name, message(MSG.alive, { Addr: ipv4Bytes(parseIpv4(address || m.address) ?? 0), Incarnation: incarnation, Meta: Buffer.alloc(0), Node: name, Port: port || m.port, Vsn: vsn.length === 6 ? vsn : VSN }));
    if (vsn.length === 6) {
      m.vsn = vsn;
      m.pmax = vsn[1]!;
    }
    m.incarnation = incarnation;
    if (address) m.address = address;
    if (port) m.port = port;
    this.setState(m, STATE_ALIVE);
  }

  private suspectNode(name: string, incarnation: number, from: string, via?: Sender): void {
    if (name === this.opts.name) {
      if (incarnation >= this.incarnation) this.refute(incarnation);
      else this.correct(from, via);
      return;
    }
    const m = this.members.get(name);
    if (!m || incarnation < m.incarnation) return;
    const existing = this.suspicions.get(name);
    if (existing) {
      if (existing.confirm(from)) this.broadcasts.queue(name, message(MSG.suspect, { From: from, Incarnation: incarnation, Node: name }));
      return;
    }
    if (m.state !== STATE_ALIVE) return;
    this.broadcasts.queue(name, message(MSG.suspect, { From: from, Incarnation: incarnation, Node: name }));
    m.incarnation = incarnation;
    this.counters.suspicions++;
    this.setState(m, STATE_SUSPECT);
    const since = m.stateChange;
    const { minMs, maxMs, expected } = suspicionBounds(this.cfg, this.members.size + 1);
    const s = new Suspicion(from, expected, minMs, maxMs, (confirmations) => {
      if (this.suspicions.get(name) === s) this.suspicions.delete(name);
      const now = this.members.get(name);
      if (this.closed || !now || now.state !== STATE_SUSPECT || now.stateChange !== since) return;
      this.log('info', 'gossip member declared dead: suspicion timed out', { peer: name, address: now.address, confirmations });
      this.deadNode(name, now.incarnation, this.opts.name);
    });
    this.suspicions.set(name, s);
  }

  private deadNode(name: string, incarnation: number, from: string, via?: Sender): void {
    if (name === this.opts.name) {
      // Not leaving (we would be closed): someone has us wrong.
      if (incarnation >= this.incarnation) this.refute(incarnation);
      else this.correct(from, via);
      return;
    }
    const m = this.members.get(name);
    if (!m || incarnation < m.incarnation) return;
    this.suspicions.get(name)?.cancel();
    this.suspicions.delete(name);
    if (m.state === STATE_DEAD || m.state === STATE_LEFT) return;
    this.broadcasts.queue(name, message(MSG.dead, { From: from, Incarnation: incarnation, Node: name }));
    m.incarnation = incarnation;
    const left = from === name;
    if (!left) this.counters.deadDeclared++;
    this.setState(m, left ? STATE_LEFT : STATE_DEAD);
  }

  /** Someone thinks we are suspect or dead: say we are alive with a higher incarnation. */
  private refute(accused: number): void {
    this.incarnation = Math.max(this.incarnation + 1, accused + 1);
    this.counters.refutations++;
    this.awareness.applyDelta(1);
    this.broadcasts.queue(this.opts.name, message(MSG.alive, this.aliveBody()));
  }

  /**
   * An accusation older than our refutation: whoever made it, and the member that passed it on
   * to us (a relayed suspicion keeps its maker's name), missed the alive that refuted it (gossip
   * reaches each member only with high probability) and would declare us dead. Both hear our
   * alive straight away; memberlist leaves this to the next push-pull. Only known members are
   * answered, each at most once per probe interval: an accusation is cheap to repeat (a
   * compressed packet holds a thousand), an answer must not be.
   */
  private correct(from: string, via: Sender | undefined): void {
    const targets = new Set<Node>();
    const maker = this.members.get(from);
    if (maker) targets.add(maker);
    if (via) {
      for (const m of this.members.values()) {
        if (m.address === via.address && m.port === via.port) targets.add(m);
      }
    }
    const now = Date.now();
    const alive = message(MSG.alive, this.aliveBody());
    for (const m of targets) {
      if (m.state === STATE_LEFT) continue;
      const key = `${m.address}:${m.port}`;
      if (now - (this.lastCorrection.get(key) ?? -Infinity) < this.cfg.probeIntervalMs) continue;
      if (this.lastCorrection.size >= MAX_CORRECTIONS_TRACKED) {
        for (const [k, at] of this.lastCorrection) if (now - at >= this.cfg.probeIntervalMs) this.lastCorrection.delete(k);
        if (this.lastCorrection.size >= MAX_CORRECTIONS_TRACKED) return;
      }
      this.lastCorrection.set(key, now);
      this.counters.corrections++;
      this.sendPacket(m.address, m.port, alive, m);
    }
  }

  // ---- wire ----

  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }

  /** CRC for peers speaking protocol 5 (net.go rawSendMsgPacket), then encrypted. */
  private sendPacket(address: string, port: number, plain: Buffer, node?: Node): void {
    if (this.closed || !this.udp) return;
    this.counters.packetsOut++;
    let out = plain;
    if (node && node.pmax >= 5) {
      const head = Buffer.alloc(5);
      head[0] = MSG.hasCrc;
      head.writeUInt32BE(crc32(plain), 1);
      out = Buffer.concat([head, plain]);
    }
    this.udp.send(this.keyring.encrypt(out), port, address);
  }

  private localPushPull(join: boolean): Buffer {
    const user = this.opts.delegate.localState(join);
    const nodes: Buffer[] = [encodeMsgpack({ Addr: this.addr, Incarnation: this.incarnation, Meta: Buffer.alloc(0), Name: this.opts.name, Port: this.opts.port, State: STATE_ALIVE, Vsn: VSN })];
    for (const m of this.members.values()) {
      nodes.push(encodeMsgpack({ Addr: ipv4Bytes(parseIpv4(m.address) ?? 0), Incarnation: m.incarnation, Meta: Buffer.alloc(0), Name: m.name, Port: m.port, State: m.state, Vsn: m.vsn }));
    }
    return Buffer.concat([Buffer.from([MSG.pushPull]), encodeMsgpack({ Join: join, Nodes: nodes.length, UserStateLen: user.length }), ...nodes, user]);
  }

  private mergePushPull(buf: Buffer, join: boolean): void {
    let at = 1;
    const h = decodeMsgpack(buf, at);
    at = h.end;
    const header = asMap(h.value);
    const nodes = asNumber(header.Nodes);
    const userLen = asNumber(header.UserStateLen);
    const remote: Record<string, MsgValue>[] = [];
    for (let i = 0; i < nodes; i++) {
      const n = decodeMsgpack(buf, at);
      at = n.end;
      remote.push(asMap(n.value));
    }
    if (at + userLen > buf.length) throw new GossipDropError('malformed', `push-pull user state runs past the message (${userLen} bytes at ${at} of ${buf.length})`);
    for (const s of remote) {
      const name = asString(s.Name);
      const inc = asNumber(s.Incarnation);
      switch (asNumber(s.State)) {
        case STATE_ALIVE:
          this.aliveNode(name, asBytes(s.Addr), asNumber(s.Port), inc, asBytes(s.Vsn));
          break;
        case STATE_LEFT:
          this.deadNode(name, inc, name);
          break;
        case STATE_DEAD: // someone else's verdict is only a suspicion here, as in memberlist
        case STATE_SUSPECT:
          this.suspectNode(name, inc, this.opts.name);
          break;
        default:
      }
    }
    if (userLen > 0) this.opts.delegate.mergeRemoteState(buf.subarray(at, at + userLen), join);
  }

  private drop(reason: DropReason, from: string, err: Error, kind: 'packet' | 'stream'): void {
    this.drops[reason]++;
    if (reason === 'decrypt') {
      const host = from.replace(/:\d+$/, '');
      const last = this.decryptWarned.get(host);
      const now = Date.now();
      if (last === undefined || now - last > DECRYPT_WARN_EVERY_MS) {
        this.decryptWarned.delete(host);
        this.decryptWarned.set(host, now);
        if (this.decryptWarned.size > DECRYPT_WARN_PEERS) this.decryptWarned.delete(this.decryptWarned.keys().next().value!);
        this.log('warn', `gossip packets from ${host} cannot be decrypted with any of the manager's keys (keys rotated, or another cluster)`, { peer: host, kind, repeatsSilentlyForMs: DECRYPT_WARN_EVERY_MS });
        return;
      }
    }
    this.log('debug', `gossip ${kind} dropped`, { from, reason, err: err.message });
  }

  private static reasonOf(err: unknown): DropReason {
    if (err instanceof GossipDropError) return err.reason;
    if (err instanceof LzwOutputLimitError) return 'decompressCap';
    if (err instanceof GossipError && err.code === 'E_GOSSIP_CRYPTO') return 'decrypt';
    return 'malformed';
  }

  private onPacket(raw: Buffer, address: string, port: number): void {
    this.counters.packetsIn++;
    let plain: Buffer;
    try {
      plain = this.keyring.decrypt(raw);
    } catch (err) {
      this.drop('decrypt', `${address}:${port}`, err as Error, 'packet');
      return;
    }
    try {
      this.handle(plain, address, port, undefined, { inflate: MAX_PACKET_INFLATE_BYTES }, false, 0);
    } catch (err) {
      this.drop(Memberlist.reasonOf(err), `${address}:${port}`, err as Error, 'packet');
    }
  }

  /** Decompresses one compress message within what is left of the budget. */
  private inflate(buf: Buffer, budget: Budget): Buffer {
    const c = asMap(decodeMsgpack(buf, 1).value);
    if (asNumber(c.Algo) !== 0) throw new GossipDropError('malformed', `unknown compression ${asNumber(c.Algo)}`);
    try {
      const out = lzwDecompress(asBytes(c.Buf), budget.inflate);
      budget.inflate -= out.length;
      return out;
    } catch (err) {
      if (err instanceof LzwOutputLimitError) throw new GossipDropError('decompressCap', `decompressed data passes the ${err.maxOutputBytes} bytes left of this message's allowance`);
      throw err;
    }
  }

  /** One message, from a packet or a stream (reply set for streams). */
  private handle(buf: Buffer, address: string, port: number, reply: ((b: Buffer) => void) | undefined, budget: Budget, inCompress: boolean, depth: number): void {
    if (buf.length === 0 || depth > 4) throw new GossipDropError('malformed', 'empty or too deeply nested message');
    const type = buf[0]!;
    if (reply && !STREAM_MESSAGE_TYPES.has(type)) throw new GossipDropError('malformed', `message type ${type} over a stream: only ping, push-pull and user messages are taken there`);
    switch (type) {
      case MSG.hasCrc: {
        if (buf.length < 5) throw new GossipDropError('malformed', 'short CRC message');
        if (crc32(buf.subarray(5)) !== buf.readUInt32BE(1)) throw new GossipDropError('malformed', 'CRC mismatch');
        return this.handle(buf.subarray(5), address, port, reply, budget, inCompress, depth + 1);
      }
      case MSG.compound: {
        const n = buf[1] ?? 0;
        if (buf.length < 2 + n * 2) throw new GossipDropError('malformed', `compound of ${n} parts is shorter than its length table`);
        let at = 2 + n * 2;
        for (let i = 0; i < n; i++) {
          const len = buf.readUInt16BE(2 + i * 2);
          if (at + len > buf.length) break; // a truncated tail: memberlist tolerates it too
          this.handle(buf.subarray(at, at + len), address, port, reply, budget, inCompress, depth + 1);
          at += len;
        }
        return;
      }
      case MSG.compress: {
        if (inCompress) throw new GossipDropError('nestedCompress', 'a compress message inside a compress message');
        return this.handle(this.inflate(buf, budget), address, port, reply, budget, true, depth + 1);
      }
      case MSG.ping: {
        const p = asMap(decodeMsgpack(buf, 1).value);
        const node = asString(p.Node);
        if (node !== '' && node !== this.opts.name) return;
        const ack = message(MSG.ack, { Payload: null, SeqNo: asNumber(p.SeqNo) });
        this.counters.pingsAnswered++;
        if (reply) reply(ack);
        else {
          const src = asBytes(p.SourceAddr);
          const srcPort = asNumber(p.SourcePort);
          const direct = src.length === 4 && srcPort > 0;
          this.sendMsg(direct ? ipv4FromBytes(src) : address, direct ? srcPort : port, ack);
        }
        return;
      }
      case MSG.indirectPing: {
        this.relayPing(asMap(decodeMsgpack(buf, 1).value), address, port);
        return;
      }
      case MSG.ack: {
        const seq = asNumber(asMap(decodeMsgpack(buf, 1).value).SeqNo);
        const h = this.ackHandlers.get(seq);
        if (!h) return;
        this.ackHandlers.delete(seq);
        clearTimeout(h.timer);
        this.counters.acks++;
        h.ack();
        return;
      }
      case MSG.nack: {
        this.ackHandlers.get(asNumber(asMap(decodeMsgpack(buf, 1).value).SeqNo))?.nack();
        return;
      }
      case MSG.alive: {
        const a = asMap(decodeMsgpack(buf, 1).value);
        this.aliveNode(asString(a.Node), asBytes(a.Addr), asNumber(a.Port), asNumber(a.Incarnation), asBytes(a.Vsn));
        return;
      }
      case MSG.suspect: {
        const s = asMap(decodeMsgpack(buf, 1).value);
        this.suspectNode(asString(s.Node), asNumber(s.Incarnation), asString(s.From), { address, port });
        return;
      }
      case MSG.dead: {
        const s = asMap(decodeMsgpack(buf, 1).value);
        this.deadNode(asString(s.Node), asNumber(s.Incarnation), asString(s.From), { address, port });
        return;
      }
      case MSG.user: {
        if (reply) {
          // Over a stream: [8][header{UserMsgLen}][bytes]
          const h = decodeMsgpack(buf, 1);
          const len = asNumber(asMap(h.value).UserMsgLen);
          if (h.end + len > buf.length) throw new GossipDropError('malformed', `user message of ${len} bytes runs past the stream message`);
          this.opts.delegate.notifyMsg(buf.subarray(h.end, h.end + len));
        } else {
          this.opts.delegate.notifyMsg(buf.subarray(1));
        }
        return;
      }
      case MSG.pushPull: {
        if (!reply) throw new GossipDropError('malformed', 'push-pull over UDP');
        const join = asMap(decodeMsgpack(buf, 1).value).Join === true;
        // Ours first (the initiator waits for it), then merge theirs.
        reply(this.localPushPull(join));
        this.mergePushPull(buf, join);
        this.counters.pushPulls++;
        return;
      }
      default:
        throw new GossipDropError('malformed', `unknown message type ${type}`);
    }
  }

  /** Pings the target of a ping-req for its sender and relays the ack, or a nack when asked (net.go handleIndirectPing). */
  private relayPing(ind: Record<string, MsgValue>, address: string, port: number): void {
    const target = ipv4FromBytes(asBytes(ind.Target));
    if (!target) throw new GossipDropError('malformed', 'ping-req without an IPv4 target');
    const src = asBytes(ind.SourceAddr);
    const srcPort = asNumber(ind.SourcePort);
    const back = src.length === 4 && srcPort > 0 ? { address: ipv4FromBytes(src), port: srcPort } : { address, port };
    const theirSeq = asNumber(ind.SeqNo);
    const ourSeq = this.nextSeqNo();
    let answered = false;
    const timer = setTimeout(() => this.ackHandlers.delete(ourSeq), this.cfg.probeTimeoutMs);
    timer.unref();
    this.ackHandlers.set(ourSeq, {
      ack: () => {
        answered = true;
        this.sendMsg(back.address, back.port, message(MSG.ack, { Payload: null, SeqNo: theirSeq }));
      },
      nack: () => undefined,
      timer,
    });
    this.sendMsg(target, asNumber(ind.Port) || this.opts.port, message(MSG.ping, this.pingBody(asString(ind.Node), ourSeq)));
    if (ind.Nack === true) {
      // memberlist nacks after a full probe timeout, which is when the prober (its ping-req
      // sent one probe timeout after its ping, its deadline one probe interval after it: two
      // timeouts with the default settings and a healthy prober) stops counting them: such
      // nacks land late and charge a healthy prober for a peer that is really gone. Ours go at
      // 80 %; an ack after it is still relayed.
      this.later(Math.floor(this.cfg.probeTimeoutMs * NACK_AT_FRACTION), () => {
        if (!answered) this.sendMsg(back.address, back.port, message(MSG.nack, { SeqNo: theirSeq }));
      });
    }
  }

  // ---- streams ----

  private streamFrame(plain: Buffer | readonly Buffer[]): Buffer {
    const parts = Buffer.isBuffer(plain) ? [plain] : plain;
    const len = 1 + NONCE_BYTES + parts.reduce((n, p) => n + p.length, 0) + TAG_BYTES;
    const header = Buffer.alloc(STREAM_HEADER_BYTES);
    header[0] = MSG.encrypt;
    header.writeUInt32BE(len, 1);
    return this.keyring.encrypt(parts, header, header, this.takeFrame);
  }

  /**
   * Reads one encrypted stream message; resolves with its plaintext, a first compress level
   * already undone (streams are always compressed by memberlist), and what is left of the
   * stream's decompression allowance.
   */
  private readFrame(sock: net.Socket, pooledPlain = false): Promise<{ plain: Buffer; budget: Budget; compressed: boolean }> {
    return new Promise((resolve, reject) => {
      const reader = new FrameReader(MAX_STREAM_FRAME_BYTES, this.framePool);
      let settled = false;
      const done = (err: Error | undefined, out?: { plain: Buffer; budget: Budget; compressed: boolean }) => {
        if (settled) return;
        settled = true;
        sock.off('data', onData);
        sock.off('error', onError);
        sock.off('end', onEnd);
        sock.off('close', onEnd);
        if (err) reject(err);
        else resolve(out!);
      };
      const onData = (chunk: Buffer) => {
        try {
          const frame = reader.push(chunk);
          if (!frame) return;
          let plain: Buffer;
          try {
            plain = this.keyring.decrypt(frame.body, frame.header, pooledPlain ? this.takeFrame : undefined);
          } catch (err) {
            throw new GossipDropError('decrypt', (err as Error).message);
          } finally {
            this.framePool.give(frame.body);
          }
          const budget = { inflate: MAX_STREAM_INFLATE_BYTES };
          const compressed = plain[0] === MSG.compress;
          if (compressed) {
            const inflated = this.inflate(plain, budget);
            this.framePool.give(plain);
            plain = inflated;
          }
          done(undefined, { plain, budget, compressed });
        } catch (err) {
          done(err as Error);
        }
      };
      const onError = (err: Error) => done(new GossipError('E_GOSSIP_IO', err.message, { cause: err }));
      const onEnd = () => done(new GossipError('E_GOSSIP_IO', 'the peer closed the stream before a whole message'));
      sock.on('data', onData);
      sock.on('error', onError);
      sock.on('end', onEnd);
      sock.on('close', onEnd);
    });
  }

  private request(address: string, port: number, plain: Buffer | readonly Buffer[], expectReply = true, deadlineMs = this.cfg.streamDeadlineMs): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const sock = net.connect({ host: address, port });
      // A deadline for the whole exchange, not an idle timer a slow peer could keep resetting.
      const deadline = setTimeout(() => sock.destroy(new GossipError('E_GOSSIP_IO', `no answer from ${address}:${port} in ${deadlineMs} ms`)), deadlineMs);
      deadline.unref();
      sock.once('close', () => clearTimeout(deadline));
      sock.once('error', (err) => reject(err instanceof GossipError ? err : new GossipError('E_GOSSIP_IO', `${address}:${port}: ${err.message}`, { cause: err })));
      sock.once('connect', () => {
        const frame = this.streamFrame(plain);
        sock.write(frame, () => this.framePool.give(frame));
        if (!expectReply) {
          sock.end(() => resolve(Buffer.alloc(0)));
          return;
        }
        this.readFrame(sock).then(
          (f) => {
            sock.end();
            if (f.plain[0] === MSG.compress && f.compressed) reject(new GossipDropError('nestedCompress', 'a compress message inside a compress message'));
            else resolve(f.plain);
          },
          (err: Error) => {
            sock.destroy();
            if (err instanceof GossipDropError && err.reason === 'decrypt') this.drop('decrypt', `${address}:${port}`, err, 'stream');
            reject(err);
          },
        );
      });
    });
  }

  private onStream(sock: net.Socket): void {
    sock.on('error', () => undefined);
    const from = `${sock.remoteAddress ?? ''}:${sock.remotePort ?? 0}`;
    if (this.inboundStreams >= this.cfg.maxInboundStreams || this.closed) {
      sock.destroy();
      this.drop('streamCap', from, new GossipDropError('streamCap', `${this.inboundStreams} streams already open`), 'stream');
      return;
    }
    this.inboundStreams++;
    this.counters.streamsIn++;
    let finished = false;
    const deadline = setTimeout(() => {
      if (finished) return;
      finished = true;
      this.drop('streamDeadline', from, new GossipDropError('streamDeadline', `stream not done ${this.cfg.streamDeadlineMs} ms after accept`), 'stream');
      sock.destroy();
    }, this.cfg.streamDeadlineMs);
    deadline.unref();
    sock.once('close', () => {
      clearTimeout(deadline);
      this.inboundStreams--;
    });
    // The plaintext may come from the frame pool: handle() is synchronous and what it keeps it
    // copies (NetworkDB's entries and re-gossip queues), so it goes back right after.
    this.readFrame(sock, true).then(
      ({ plain, budget, compressed }) => {
        if (finished) return;
        let replied = false;
        const reply = (b: Buffer) => {
          replied = true;
          const frame = this.streamFrame(b);
          sock.end(frame, () => this.framePool.give(frame));
        };
        try {
          this.handle(plain, sock.remoteAddress ?? '', sock.remotePort ?? 0, reply, budget, compressed, 0);
        } catch (err) {
          this.drop(Memberlist.reasonOf(err), from, err as Error, 'stream');
        } finally {
          this.framePool.give(plain);
        }
        finished = true;
        if (!replied) sock.end();
      },
      (err: Error) => {
        if (finished) return;
        finished = true;
        if (!(err instanceof GossipError && err.code === 'E_GOSSIP_IO')) this.drop(Memberlist.reasonOf(err), from, err, 'stream');
        sock.destroy();
      },
    );
  }
}
